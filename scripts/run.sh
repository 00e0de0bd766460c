#!/usr/bin/env bash
# `make run`: prepares var/server and starts the single-machine service.
# Settings: environment first, then conf/services-configuration.yaml, then defaults.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
inst=${PAI_INSTANCE:-$root/var/server}
yaml=${PAI_SERVICES_CONF:-$root/conf/services-configuration.yaml}
umask 077

if [ -f "$yaml" ]; then
  conf=$("$root/build/paiconf" "$yaml") || { echo "make run: fix $yaml (see above)" >&2; exit 2; }
  eval "$conf"
fi
port=${PORT:-${PAI_YAML_SERVER_PORT:-9186}}
addr=${PAI_LISTEN_ADDRESS:-127.0.0.1}
admin=${PAI_ADMIN_USERNAME:-${PAI_YAML_ADMIN_USERNAME:-admin}}
secret=${PAI_JWT_SECRET:-${PAI_YAML_JWT_SECRET:-}}
password=${PAI_ADMIN_PASSWORD:-${PAI_YAML_ADMIN_PASSWORD:-}}

mkdir -p "$inst"
chmod 755 "$(dirname "$inst")" "$inst" 2>/dev/null || true
if [ -n "$secret" ]; then
  [ ${#secret} -ge 32 ] || { echo "make run: the JWT secret must have at least 32 characters" >&2; exit 2; }
  printf '%s\n' "$secret" > "$inst/jwt.secret"
fi
if [ -n "$password" ]; then
  [ ${#password} -ge 6 ] || { echo "make run: the admin password must have at least 6 characters" >&2; exit 2; }
  printf '%s\n' "$password" > "$inst/admin.password"
elif [ ! -s "$inst/admin.password" ]; then
  head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$inst/admin.password"
  rm -f "$inst/admin.password.shown"
fi
chmod 600 "$inst/admin.password"

base=$("$root/scripts/statedir.sh" "$inst")
PAI_SLURM_PORT=${PAI_SLURM_PORT:-16817} "$root/scripts/slurm.sh" start "$base/slurm"
# Tasks run in their job's image: a local registry holding the project's test
# image (built once from Debian's mirror, about a minute), which
# examples/exampleJob.json names.  PAI_CONTAINER_RUNTIME=none runs tasks on
# the node itself instead.
runtime=${PAI_CONTAINER_RUNTIME:-runc}
registry=${PAI_REGISTRY:-127.0.0.1:9180}
# The portal's submit form offers the image this machine can run.
portal_image=${PAI_PORTAL_IMAGE:-debian:12}
[ "$runtime" != none ] && portal_image=${PAI_PORTAL_IMAGE:-$registry/pai/test:1}
if [ "$runtime" != none ]; then
  # Several nodes reach this machine at the bridge's address, where their
  # image cache looks for 127.0.0.1's registries (scripts/slurm.sh).
  serve=$registry
  ctl=$(cat "$base/slurm/ctl_address")
  case "$registry" in 127.0.0.1:*) [ "$ctl" != 127.0.0.1 ] && serve=$ctl:${registry#*:} ;; esac
  "$root/scripts/image.sh" build "$root/var/image"
  "$root/scripts/image.sh" registry-start "$base/registry" "$serve"
  "$root/scripts/image.sh" push "$root/var/image" "$serve/pai/test:1"
fi
# Several nodes (PAI_SLURM_NODES=N) reach this machine at the bridge's address:
# httpd listens there too, and tasks report their sshd there.
# PAI_TLS=1: https everywhere (scripts/httpd.sh), with this clone's CA.
scheme=http
[ "${PAI_TLS:-0}" = 1 ] && scheme=https
extra="" report="$scheme://$addr:$port"
ctl=$(cat "$base/slurm/ctl_address")
if [ "$ctl" != 127.0.0.1 ] && [ "$addr" != 0.0.0.0 ]; then extra="$ctl:$port" report="$scheme://$ctl:$port"; fi
PAI_LISTEN="$addr:$port" PAI_LISTEN_EXTRA="$extra" PAI_REPORT_URL="$report" \
    PAI_ADMIN_USERNAME="$admin" PAI_SLURM_DIR="$base/slurm" \
    PAI_VIRTUAL_CLUSTERS="${PAI_VIRTUAL_CLUSTERS:-}" PAI_CONTAINER_RUNTIME="$runtime" \
    PAI_PORTAL_IMAGE="$portal_image" "$root/scripts/httpd.sh" start "$inst"

echo "mod_pairest is up: $scheme://$addr:$port/api/v1"
echo "the web portal: $scheme://$addr:$port/"
if [ "$scheme" = https ] && [ -z "${PAI_TLS_CERT:-}" ]; then
  echo "its certificate is signed by this clone's CA: curl --cacert $root/var/tls/ca.crt ..."
fi
[ "$runtime" != none ] && echo "jobs run in containers; the local registry $registry holds $registry/pai/test:1"
# A generated password is shown once, after the first start that worked.
if [ -z "$password" ] && [ ! -e "$inst/admin.password.shown" ]; then
  echo "first admin: $admin, password: $(cat "$inst/admin.password") (kept in $inst/admin.password, mode 0600)"
  touch "$inst/admin.password.shown"
else
  echo "admin user: $admin (password in $inst/admin.password)"
fi
