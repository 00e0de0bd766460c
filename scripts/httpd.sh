#!/usr/bin/env bash
# Starts or stops one mod_pairest httpd instance living in its own folder.
#   httpd.sh start INSTDIR   (reads PAI_LISTEN, PAI_DB, PAI_DB_PARAMS, PAI_ADMIN_USERNAME,
#                             PAI_RUNAS, PAI_JOB_USER, PAI_BCRYPT_COST, PAI_SLURM_DIR,
#                             PAI_SYNC_LIST (slurmctld, the default: the sync reads Slurm's
#                             jobs through libslurm with PAI_SLURM_DIR/slurm.conf; or
#                             slurmrestd),
#                             PAI_VIRTUAL_CLUSTERS, PAI_USER_MAPPING, PAI_LOGIN_LIMIT_USER and
#                             _ADDRESS ("COUNT SECONDS"), PAI_USER_MAX_WAITING and
#                             PAI_USER_MAX_ACTIVE (jobs per user), PAI_JOBS_DIR (the
#                             job folder root, default STATE/jobs), PAI_LISTEN_EXTRA
#                             (a second address:port, e.g. where cluster nodes reach
#                             this machine), PAI_REPORT_URL (PaiSSHReportURL, default
#                             http://PAI_LISTEN), PAI_CONTAINER_RUNTIME (runc, the default,
#                             or none), PAI_IMAGE_ALLOW (PaiImageAllow patterns, space-
#                             separated), PAI_HTTPD_INCLUDE (a file included at the end
#                             of the configuration), PAI_TLS=1 (https on every address,
#                             with a certificate of this clone's CA, scripts/tls.sh, or
#                             PAI_TLS_CERT and PAI_TLS_KEY; PAI_TLS_CA: the CA the tasks
#                             verify it with), and PAI_MODULE: the
#                             module to load, build/mod_pairest.so unless set;
#                             PAI_VALGRIND=LOGFILE runs one process under memcheck)
#   httpd.sh stop INSTDIR
# The instance folder must already hold admin.password (and may hold jwt.secret).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: httpd.sh start|stop INSTDIR}
inst=$(mkdir -p "${2:?instance folder}" && cd "$2" && pwd)

running() { [ -s "$inst/httpd.pid" ] && kill -0 "$(cat "$inst/httpd.pid")" 2>/dev/null; }

stop() {
  running || { rm -f "$inst/httpd.pid"; return 0; }
  local pid; pid=$(cat "$inst/httpd.pid")
  kill -TERM "$pid"
  # valgrind needs a while to write its report
  for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  rm -f "$inst/httpd.pid" "$("$root/scripts/statedir.sh" "$inst")/httpd.pid"
}

start() {
  local listen=${PAI_LISTEN:-127.0.0.1:9186}
  local runas=${PAI_RUNAS:-pairest}
  local db=${PAI_DB:-sqlite3}
  if running; then echo "httpd already running in $inst (pid $(cat "$inst/httpd.pid"))"; return 0; fi
  id -u "$runas" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$runas"
  local jobuser=${PAI_JOB_USER:-paijob}
  id -u "$jobuser" >/dev/null 2>&1 || useradd --system --create-home --home-dir "/var/lib/$jobuser" \
      --shell /bin/bash "$jobuser"
  # The workers and the jobs reach their folders through every parent directory.
  local base datadir jobsdir slurmdir
  base=$("$root/scripts/statedir.sh" "$inst")
  # The job folder root must be the one the cluster's prolog knows (servers
  # sharing a Slurm share it): PAI_JOBS_DIR, else this instance's.
  datadir=$base/db jobsdir=${PAI_JOBS_DIR:-$base/jobs} slurmdir=${PAI_SLURM_DIR:-$base/slurm}
  # The sync's list: from slurmctld through libslurm (httpd is a client of this
  # machine's Slurm, munge included), or through slurmrestd.
  local slurmconf
  case "${PAI_SYNC_LIST:-slurmctld}" in
    slurmctld) slurmconf=$slurmdir/slurm.conf ;;
    slurmrestd) slurmconf=none ;;
    *) echo "httpd.sh: PAI_SYNC_LIST is slurmctld or slurmrestd" >&2; exit 2 ;;
  esac
  mkdir -p "$inst/logs" "$inst/run" "$datadir" "$jobsdir" "$base/cores"
  chown "$runas:" "$datadir" "$inst/run"
  # A crashed child writes its core where its account can (the instance folder
  # may sit in a folder closed to it); tests/api/conftest.py reports it.
  chown "$runas:" "$base/cores"; chmod 700 "$base/cores"
  # The web portal (make build's build/web) where the workers can read it,
  # root's: the server may serve it, not change it.
  [ -f "$root/build/web/index.html" ] || { echo "httpd.sh: build/web is missing: make build" >&2; exit 2; }
  rm -rf "$base/web.new"
  cp -r "$root/build/web" "$base/web.new"
  # What the portal suggests (PAI_PORTAL_IMAGE): an image reference, nothing else.
  local image=${PAI_PORTAL_IMAGE:-debian:12}
  case "$image" in ''|*[!A-Za-z0-9./:_@-]*) echo "httpd.sh: bad PAI_PORTAL_IMAGE" >&2; exit 2 ;; esac
  printf '{"defaultImage": "%s"}\n' "$image" > "$base/web.new/config.json"
  chown -R root:root "$base/web.new"; chmod -R go-w,a+rX "$base/web.new"
  rm -rf "$base/web"; mv "$base/web.new" "$base/web"
  # The job folder root is root's alone: Slurm's prolog (scripts/job/prolog.sh)
  # makes each account's own folder in it, mode 0700, whatever the mapping.
  local mapping=${PAI_USER_MAPPING:-service}
  chown root:root "$jobsdir"; chmod 755 "$jobsdir"
  local params init
  case "$db" in
    sqlite3)
      params=${PAI_DB_PARAMS:-$datadir/pairest.db}
      # One line: a pragma that returns a row ends the DBDInitSQL list
      # (busy_timeout does: it comes last).  The module lets one writer per
      # process at a time at SQLite (see store.c), so a writer waits here only
      # for other processes.  A page cache of 256 KB a connection (SQLite's
      # default is 2 MB; a process may hold DBDMax connections): the kernel's
      # file cache holds the database for all of them (bench/README.md, memory).
      init='DBDInitSQL "PRAGMA cache_size=-256; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000"' ;;
    mysql)
      params=${PAI_DB_PARAMS:?PAI_DB_PARAMS is needed for mysql}
      init='' ;;
    *) echo "httpd.sh: PAI_DB must be sqlite3 or mysql" >&2; exit 2 ;;
  esac
  if [ "$db" = sqlite3 ] && ! runuser -u "$runas" -- test -w "$(dirname "$params")"; then
    echo "httpd.sh: $runas cannot write $(dirname "$params"); use a path it can reach" >&2; exit 2
  fi
  # PAI_VIRTUAL_CLUSTERS="vc1 50 100; vc2 50 50": one PaiVirtualCluster line each.
  local vcs=""
  local runtime=${PAI_CONTAINER_RUNTIME:-runc} allow=""
  case "$runtime" in runc|none) ;; *) echo "httpd.sh: PAI_CONTAINER_RUNTIME must be runc or none" >&2; exit 2 ;; esac
  case "${PAI_IMAGE_ALLOW:-}" in *'|'*|*'"'*|*\\*|*'&'*|*$'\n'*) echo "httpd.sh: bad PAI_IMAGE_ALLOW" >&2; exit 2 ;; esac
  [ -n "${PAI_IMAGE_ALLOW:-}" ] && allow="PaiImageAllow $PAI_IMAGE_ALLOW"
  local include=""
  if [ -n "${PAI_HTTPD_INCLUDE:-}" ]; then
    case "$PAI_HTTPD_INCLUDE" in
      /*) ;; *) echo "httpd.sh: PAI_HTTPD_INCLUDE must be an absolute path" >&2; exit 2 ;; esac
    case "$PAI_HTTPD_INCLUDE" in *'|'*|*'"'*|*\\*|*'&'*|*$'\n'*) echo "httpd.sh: bad PAI_HTTPD_INCLUDE" >&2; exit 2 ;; esac
    [ -r "$PAI_HTTPD_INCLUDE" ] || { echo "httpd.sh: cannot read $PAI_HTTPD_INCLUDE" >&2; exit 2; }
    include="Include \"$PAI_HTTPD_INCLUDE\""
  fi
  local scheme=http tls="" reportca="" cafile=""
  if [ "${PAI_TLS:-0}" = 1 ]; then
    scheme=https
    local crt key hosts h
    if [ -n "${PAI_TLS_CERT:-}" ]; then
      crt=$PAI_TLS_CERT key=${PAI_TLS_KEY:?PAI_TLS_KEY goes with PAI_TLS_CERT} cafile=${PAI_TLS_CA:-}
    else
      # This clone's CA signs a certificate for every address served.
      hosts="localhost ${listen%:*}"
      [ -n "${PAI_LISTEN_EXTRA:-}" ] && hosts="$hosts ${PAI_LISTEN_EXTRA%:*}"
      # shellcheck disable=SC2086  # a list of addresses
      cafile=$("$root/scripts/tls.sh" cert "$base/tls" $hosts)
      crt=$base/tls/server.crt key=$base/tls/server.key
    fi
    for h in "$crt" "$key" "$cafile"; do
      case "$h" in *'"'*|*\\*|*$'\n'*) echo "httpd.sh: bad TLS file name" >&2; exit 2 ;; esac
    done
    if [ ! -r "$crt" ] || [ ! -r "$key" ]; then echo "httpd.sh: cannot read $crt or $key" >&2; exit 2; fi
    { echo "LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so"
      echo "LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so"
      echo "SSLSessionCache \"shmcb:$inst/run/ssl_scache(512000)\""
      echo "SSLEngine on"
      echo "SSLCertificateFile \"$crt\""
      echo "SSLCertificateKeyFile \"$key\""
      echo "SSLProtocol all -SSLv3 -TLSv1 -TLSv1.1"
    } > "$inst/tls.conf"
    tls="Include \"$inst/tls.conf\""
    if [ -n "$cafile" ]; then
      # The tasks (any account, on the nodes) verify this server with the CA:
      # a copy where they can read it.
      install -m 644 "$cafile" "$base/tls-ca.crt"
      reportca="PaiSSHReportCAFile \"$base/tls-ca.crt\""
    fi
  fi
  # The days task logs are served, as Slurm's epilog keeps them (slurm.sh).
  local retention=${PAI_LOG_RETENTION:-30}
  case "$retention" in ''|*[!0-9]*) echo "httpd.sh: PAI_LOG_RETENTION must be a number of days" >&2; exit 2 ;; esac
  # How long a job list or status may be answered again (PaiAnswerCacheTTL).
  local answer_ttl=${PAI_ANSWER_CACHE_TTL:-1000}
  case "$answer_ttl" in ''|*[!0-9]*) echo "httpd.sh: PAI_ANSWER_CACHE_TTL must be a number of milliseconds" >&2; exit 2 ;; esac
  if [ -n "${PAI_VIRTUAL_CLUSTERS:-}" ]; then
    vcs=$(printf '%s' "$PAI_VIRTUAL_CLUSTERS" | tr ';' '\n' | awk 'NF {printf "PaiVirtualCluster %s\\n", $0}')
  fi
  sed -e "s|@INSTDIR@|$inst|g" -e "s|@COREDIR@|$base/cores|g" -e "s|@VCS@|$vcs|g" -e "s|@ROOT@|$root|g" -e "s|@LISTEN@|$listen|g" \
      -e "s|@RUNAS@|$runas|g" -e "s|@DBDRIVER@|$db|g" -e "s|@DBPARAMS@|$params|g" \
      -e "s|@DBDINIT@|$init|g" -e "s|@ADMINUSER@|${PAI_ADMIN_USERNAME:-admin}|g" \
      -e "s|@BCRYPTCOST@|${PAI_BCRYPT_COST:-10}|g" -e "s|@SLURMDIR@|$slurmdir|g" \
      -e "s|@SLURMCONF@|$slurmconf|g" \
      -e "s|@JOBSDIR@|$jobsdir|g" -e "s|@JOBUSER@|$jobuser|g" \
      -e "s|@MODULE@|${PAI_MODULE:-$root/build/mod_pairest.so}|g" \
      -e "s|@LOGINLIMITUSER@|${PAI_LOGIN_LIMIT_USER:-10 300}|g" -e "s|@USERMAPPING@|$mapping|g" \
      -e "s|@LOGINLIMITADDRESS@|${PAI_LOGIN_LIMIT_ADDRESS:-100 300}|g" \
      -e "s|@MAXWAITING@|${PAI_USER_MAX_WAITING:-1000}|g" -e "s|@MAXACTIVE@|${PAI_USER_MAX_ACTIVE:-5000}|g" \
      -e "s|@EXTRALISTEN@|${PAI_LISTEN_EXTRA:+Listen $PAI_LISTEN_EXTRA}|g" \
      -e "s|@REPORTURL@|${PAI_REPORT_URL:-$scheme://$listen}|g" -e "s|@SCHEME@|$scheme|g" \
      -e "s|@TLS@|$tls|g" -e "s|@REPORTCA@|$reportca|g" \
      -e "s|@WEBDIR@|$base/web|g" -e "s|@LOGRETENTION@|$retention|g" -e "s|@ANSWERCACHETTL@|$answer_ttl|g" -e "s|@CTRRUNTIME@|$runtime|g" -e "s|@IMAGEALLOW@|$allow|g" -e "s|@INCLUDE@|$include|g" \
      "$root/conf/httpd.conf.in" > "$inst/httpd.conf"
  chmod 600 "$inst/httpd.conf"
  local waits=100
  ulimit -c unlimited 2>/dev/null || true
  if [ -n "${PAI_VALGRIND:-}" ]; then
    # One process (-X) under memcheck; its report is written when it stops.
    mkdir -p "$(dirname "$PAI_VALGRIND")"
    setsid env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin valgrind --leak-check=full \
        --show-leak-kinds=definite --errors-for-leak-kinds=definite --num-callers=30 \
        --log-file="$PAI_VALGRIND" /usr/sbin/apache2 -X -f "$inst/httpd.conf" \
        </dev/null >/dev/null 2>&1 &
    waits=600
  else
    # Two malloc arenas a process, not glibc's eight per CPU: 25 threads each
    # keeping freed memory in an arena of its own held the heap high after
    # big answers (bench/README.md, memory).
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin MALLOC_ARENA_MAX=2 \
        ${SAN_PRELOAD:+LD_PRELOAD=$SAN_PRELOAD} \
        ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} ${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} \
        /usr/sbin/apache2 -f "$inst/httpd.conf" -k start \
      || { echo "httpd did not start; from $inst/logs/error.log:" >&2
           tail -n 3 "$inst/logs/error.log" >&2; exit 1; }
  fi
  for _ in $(seq 1 $waits); do running && break; sleep 0.1; done
  running || { echo "httpd did not start; see $inst/logs/error.log" >&2; tail -5 "$inst/logs/error.log" >&2 || true; exit 1; }
  # A copy beside the instance's state: statedir.sh stops this httpd if the
  # instance folder goes away while it runs.
  cp "$inst/httpd.pid" "$base/httpd.pid"
  # Until the port answers, the instance is not up.
  local host=${listen%:*} port=${listen##*:}
  [ "$host" = "$listen" ] && host=127.0.0.1
  for _ in $(seq 1 $waits); do
    curl -s ${cafile:+--cacert "$cafile"} -o /dev/null "$scheme://$host:$port/api/v1" && return 0
    sleep 0.1
  done
  echo "httpd does not answer on $listen" >&2; exit 1
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: httpd.sh start|stop INSTDIR" >&2; exit 2 ;;
esac
