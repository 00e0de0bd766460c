#!/usr/bin/env bash
# `make stop`: stops what `make run` started, by pid files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -d "$root/var/server" ]; then
  "$root/scripts/httpd.sh" stop "$root/var/server"
  "$root/scripts/slurm.sh" stop "$("$root/scripts/statedir.sh" "$root/var/server")/slurm"
fi
echo "mod_pairest stopped"
