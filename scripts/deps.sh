#!/usr/bin/env bash
# Installs the Debian packages mod_pairest needs, only those missing: a fast
# no-op on a machine that has them all.
set -euo pipefail

pkgs=(
  apache2 apache2-dev libapr1-dev libaprutil1-dev
  libaprutil1-dbd-sqlite3 libaprutil1-dbd-mysql sqlite3 libsqlite3-dev
  libjansson-dev libjwt-dev libcurl4-openssl-dev libssl-dev libyaml-dev
  mariadb-server mariadb-client
  slurmctld slurmd slurm-client slurmrestd slurm-wlm-jwt-plugin munge libslurm-dev
  check pkg-config gcc make clang libclang-rt-14-dev wrk valgrind lua5.1 gdb
  python3-pytest python3-requests python3-yaml
  runc skopeo umoci mmdebstrap docker-registry jq apache2-utils
  curl util-linux passwd iproute2 openssh-server openssh-client shellcheck
  nodejs chromium chromium-driver python3-selenium
)

missing=()
for p in "${pkgs[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done
# OpenPAI's JavaScript SDK test (scripts/sdk.sh): Debian's npm, unless the
# installed nodejs brings its own.
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages (${missing[*]}); run as root to install them" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian's maintainer scripts must not start system services of their own.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; made_policy=1
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
[ $made_policy -eq 1 ] && rm -f "$policy"
exit 0
