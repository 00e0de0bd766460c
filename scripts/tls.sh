#!/usr/bin/env bash
# TLS for `PAI_TLS=1 make run` and the tests: a certificate authority of this
# clone's own (var/tls/ca.crt: trust it in clients, as mkcert does), and a
# server certificate signed by it for the addresses an instance listens on.
#   tls.sh cert OUTDIR HOST [HOST ...]
#     makes OUTDIR/server.crt and OUTDIR/server.key (mode 0600) for the
#     addresses or names given, once (kept while they still name them all);
#     prints the CA's file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ca=$root/var/tls

make_ca() {
  [ -s "$ca/ca.crt" ] && [ -s "$ca/ca.key" ] && return 0
  mkdir -p "$ca"; chmod 700 "$ca"
  (umask 077
   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
     -subj "/CN=mod_pairest local CA $(hostname)" -keyout "$ca/ca.key.tmp" -out "$ca/ca.crt.tmp" \
     -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
     2>/dev/null)
  mv -f "$ca/ca.key.tmp" "$ca/ca.key"
  mv -f "$ca/ca.crt.tmp" "$ca/ca.crt"
  chmod 644 "$ca/ca.crt"
}

cert() {
  local out=${1:?usage: tls.sh cert OUTDIR HOST...}; shift
  [ $# -gt 0 ] || { echo "tls.sh: name at least one address" >&2; exit 2; }
  local san="" h
  for h in "$@"; do
    case "$h" in
      *[!A-Za-z0-9.:-]*|'') echo "tls.sh: bad address '$h'" >&2; exit 2 ;;
      *[!0-9.]*) san="$san,DNS:$h" ;;
      *) san="$san,IP:$h" ;;
    esac
  done
  san=${san#,}
  make_ca
  mkdir -p "$out"
  # Kept while it is signed by this CA and names what it must.
  if [ -s "$out/server.crt" ] && [ -s "$out/server.key" ] &&
     [ "$(cat "$out/server.san" 2>/dev/null)" = "$san" ] &&
     openssl verify -CAfile "$ca/ca.crt" "$out/server.crt" >/dev/null 2>&1; then
    echo "$ca/ca.crt"; return 0
  fi
  local tmp; tmp=$(mktemp -d)
  (umask 077
   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
     -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null
   printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" \
     > "$tmp/ext"
   openssl x509 -req -in "$tmp/server.csr" -CA "$ca/ca.crt" -CAkey "$ca/ca.key" \
     -CAcreateserial -CAserial "$ca/ca.srl" -days 825 -extfile "$tmp/ext" \
     -out "$tmp/server.crt" 2>/dev/null)
  install -m 600 "$tmp/server.key" "$out/server.key"
  install -m 644 "$tmp/server.crt" "$out/server.crt"
  printf '%s' "$san" > "$out/server.san"
  rm -rf "$tmp"
  echo "$ca/ca.crt"
}

case "${1:-}" in
  cert) shift; cert "$@" ;;
  *) echo "usage: tls.sh cert OUTDIR HOST [HOST ...]" >&2; exit 2 ;;
esac
