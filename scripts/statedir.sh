#!/usr/bin/env bash
# Prints where an instance keeps the state that unprivileged accounts must reach
# (database, Slurm, job logs): the instance folder itself, or a folder under
# /var/lib/pairest when a parent of the clone is closed to others (say /root).
set -euo pipefail
inst=$(mkdir -p "${1:?instance folder}" && cd "$1" && pwd)
if runuser -u nobody -- test -x "$inst" 2>/dev/null; then
  echo "$inst"
else
  d=/var/lib/pairest/$(printf '%s' "$inst" | sha1sum | cut -c1-12)
  mkdir -p "$d"; chmod 755 /var/lib/pairest "$d"
  echo "$d"
fi
