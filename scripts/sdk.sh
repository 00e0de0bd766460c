#!/usr/bin/env bash
# Installs OpenPAI's JavaScript SDK at the version tests/sdk/package-lock.json
# pins (from the npm registry) for tests/api/test_sdk.py; a no-op once that
# lock is installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/tests/sdk
stamp=$dir/node_modules/.pairest-installed-lock
command -v npm >/dev/null || { echo "sdk.sh: npm is missing (scripts/deps.sh installs it)" >&2; exit 1; }
if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
  exit 0
fi
npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
cp "$dir/package-lock.json" "$stamp"
