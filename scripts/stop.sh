#!/usr/bin/env bash
# `make stop`: stops what `make run` started, by pid files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
inst=${PAI_INSTANCE:-$root/var/server}
if [ -d "$inst" ]; then
  "$root/scripts/httpd.sh" stop "$inst"
  base=$("$root/scripts/statedir.sh" "$inst")
  "$root/scripts/slurm.sh" stop "$base/slurm"
  "$root/scripts/image.sh" registry-stop "$base/registry"
fi
echo "mod_pairest stopped"
