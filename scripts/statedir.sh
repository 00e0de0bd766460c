#!/usr/bin/env bash
# Prints the state folder of an instance folder: where its database, Slurm,
# MariaDB and job folders live, which the service accounts (httpd's, the jobs',
# mysql) must reach even when the clone sits in a folder closed to them (say
# /root, mode 0700).  One rule for every service and instance:
#   /var/lib/pairest-state/<id>, where <id> is a random name kept in the instance
# folder (INSTDIR/.pairest-state), so a folder removed and made again (rm -rf
# var) gets fresh state, never the old (inodes are reused at once).  Each call also collects the state folders whose instance
# folder is gone: their services are stopped by pid file and the folder is
# removed, so cleaning an instance cleans all of it.
#   statedir.sh INSTDIR
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
inst=$(mkdir -p "${1:?instance folder}" && cd "$1" && pwd)
base=/var/lib/pairest-state
mkdir -p "$base"; chown root:root "$base"; chmod 755 "$base"

# Stops what a state folder's services left running, then removes it.
collect() {
  local d=$1 pid
  if [ -f "$d/slurm/slurm.conf" ]; then "$root/scripts/slurm.sh" stop "$d/slurm" || true; fi
  if [ -f "$d/mysqld.pid" ]; then "$root/scripts/mariadb.sh" stop "$d" || true; fi
  if [ -s "$d/registry/registry.pid" ]; then "$root/scripts/image.sh" registry-stop "$d/registry" || true; fi
  if [ -s "$d/httpd.pid" ]; then
    pid=$(cat "$d/httpd.pid")
    # Only an httpd: a pid may have been reused since.
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = apache2 ]; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  rm -rf "$d"
}

for d in "$base"/*/; do
  d=${d%/}
  [ -f "$d/owner" ] || continue
  read -r path id < "$d/owner" || continue
  if [ "$(cat "$path/.pairest-state" 2>/dev/null)" != "$id" ]; then
    collect "$d" >&2
  fi
done

if [ ! -s "$inst/.pairest-state" ]; then
  head -c 9 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$inst/.pairest-state.tmp"
  mv "$inst/.pairest-state.tmp" "$inst/.pairest-state"
fi
id=$(cat "$inst/.pairest-state")
case "$id" in *[!0-9a-f]*|'') echo "statedir.sh: $inst/.pairest-state is not an id" >&2; exit 2 ;; esac
d=$base/$id
mkdir -p "$d"; chmod 755 "$d"
[ -f "$d/owner" ] || printf '%s %s\n' "$inst" "$id" > "$d/owner"
echo "$d"
