#!/bin/bash
# Builds the web portal (web/) into OUT for httpd to serve: each asset under a
# name that carries a hash of its content (assets/app.<hash>.js), which
# browsers may keep for a year, and index.html naming them (never cached).
#   web.sh SRC OUT
set -euo pipefail
src=${1:?usage: web.sh SRC OUT}
out=${2:?usage: web.sh SRC OUT}
out=${out%/}
tmp=$(mktemp -d "$out.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/assets"
index=$(cat "$src/index.html")
for f in app.js app.css; do
  hash=$(sha256sum "$src/$f" | cut -c1-12)
  name=${f%.*}.$hash.${f##*.}
  cp "$src/$f" "$tmp/assets/$name"
  grep -q "\"$f\"" <<<"$index" || { echo "web.sh: index.html does not name $f" >&2; exit 1; }
  index=${index//\"$f\"/\"assets/$name\"}
done
printf '%s\n' "$index" > "$tmp/index.html"
chmod -R a+rX "$tmp"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
