#!/usr/bin/env bash
# `make stop`: stops what `make run` started, by pid files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
[ -d "$root/var/server" ] && "$root/scripts/httpd.sh" stop "$root/var/server"
echo "mod_pairest stopped"
