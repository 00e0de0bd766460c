#!/usr/bin/env bash
# A private MariaDB server on loopback for mod_pairest (no systemd, own datadir).
#   mariadb.sh start DIR PORT   -> DIR/dbdparams holds the DBDParams for mod_dbd
#   mariadb.sh stop DIR
# PAI_MARIADB_BUFFER_POOL_MB: InnoDB's buffer pool (64 by default; the bench takes more)
set -euo pipefail
cmd=${1:?usage: mariadb.sh start DIR PORT | stop DIR}
dir=$(mkdir -p "${2:?folder}" && cd "$2" && pwd)

running() { [ -s "$dir/mysqld.pid" ] && kill -0 "$(cat "$dir/mysqld.pid")" 2>/dev/null; }

case "$cmd" in
start)
  port=${3:?port}
  if ! running; then
    if [ ! -d "$dir/data/mysql" ]; then
      mkdir -p "$dir/data"; chown mysql: "$dir/data"
      mariadb-install-db --no-defaults --user=mysql --datadir="$dir/data" \
          --auth-root-authentication-method=socket >"$dir/install.log" 2>&1 \
        || { cat "$dir/install.log" >&2; exit 1; }
    fi
    chown mysql: "$dir"
    /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$dir/data" \
        --socket="$dir/mysqld.sock" --port="$port" --bind-address=127.0.0.1 \
        --pid-file="$dir/mysqld.pid" --log-error="$dir/mysqld.err" \
        --innodb-buffer-pool-size="${PAI_MARIADB_BUFFER_POOL_MB:-64}M" --skip-name-resolve \
        >/dev/null 2>&1 &
    for _ in $(seq 1 150); do
      mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -u root ping >/dev/null 2>&1 && break
      sleep 0.2
    done
  fi
  mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -u root ping >/dev/null \
    || { echo "MariaDB did not start; see $dir/mysqld.err" >&2; exit 1; }
  [ -s "$dir/password" ] || { umask 077; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/password"; }
  pw=$(cat "$dir/password")
  mariadb --no-defaults --socket="$dir/mysqld.sock" -u root <<SQL
CREATE DATABASE IF NOT EXISTS pairest CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS 'pairest'@'localhost' IDENTIFIED BY '$pw';
CREATE USER IF NOT EXISTS 'pairest'@'127.0.0.1' IDENTIFIED BY '$pw';
GRANT ALL ON pairest.* TO 'pairest'@'localhost';
GRANT ALL ON pairest.* TO 'pairest'@'127.0.0.1';
SQL
  (umask 077; echo "host=127.0.0.1,port=$port,user=pairest,pass=$pw,dbname=pairest,reconnect=1" > "$dir/dbdparams")
  ;;
stop)
  running || exit 0
  pid=$(cat "$dir/mysqld.pid")
  kill -TERM "$pid"
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  ;;
*) echo "usage: mariadb.sh start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
