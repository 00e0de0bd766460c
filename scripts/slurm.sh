#!/usr/bin/env bash
# A Slurm cluster on this machine with private state, for mod_pairest: munge,
# slurmctld, slurmd and slurmrestd (Slurm JWT auth, unix socket).  One node on
# loopback by default; PAI_SLURM_NODES=N (N > 1) gives N nodes pai-n1..pai-nN,
# each slurmd in network, UTS and mount namespaces of its own (own address on
# a private bridge, own host name, the cluster's /etc/hosts), sharing the
# file system as nodes sharing NFS would.
#   slurm.sh start DIR   (PAI_SLURM_PORT base port, default 16817; PAI_SLURM_GPUS, default 4
#                         per node; PAI_SLURM_CPUS, default max(nproc, 4) per node;
#                         PAI_SLURM_MEMORY_MB per node; PAI_SLURM_NODES, default 1;
#                         PAI_SLURM_NODE_TIMEOUT, seconds of silence before a node
#                         is down and its jobs fail, default 300 (Slurm's own);
#                         PAI_SLURM_SUBNET, the nodes' /24, default 10.213.(port % 250);
#                         PAI_JOB_USER, default paijob;
#                         PAI_RUNAS, the account of httpd and slurmrestd, default pairest;
#                         PAI_JOBS_DIR, the job folder root, default DIR/../jobs;
#                         PAI_IMAGE_CACHE, the nodes' image cache, default DIR/../images;
#                         PAI_IMAGE_CACHE_MB, its size bound, default 10240;
#                         PAI_IMAGE_INSECURE, registries reached over plain HTTP, default
#                         127.0.0.1:*,localhost:*; PAI_IMAGE_MIRRORS, FROM=TO,… registries
#                         the nodes pull from instead (default, several nodes:
#                         127.0.0.1=<bridge address>: this machine as the nodes reach it);
#                         PAI_SLURM_TEST_HOLD=1: tests only, see scripts/job/prolog.sh)
#   slurm.sh stop DIR
# DIR/rest/slurmrestd.sock is the launcher's socket; DIR/jwt_hs256.key its signing key;
# DIR/ctl_address the address nodes reach this machine at (httpd too, for reports).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:?usage: slurm.sh start|stop DIR}
dir=$(mkdir -p "${2:?folder}" && cd "$2" && pwd)
conf=$dir/slurm.conf
export SLURM_CONF=$conf

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid() {
  local f=$1 pid
  alive "$f" || { rm -f "$f"; return 0; }
  pid=$(cat "$f")
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  rm -f "$f"
}

# The cluster's network, named after its port so that clusters do not meet:
# a bridge on this machine and one namespace per node.
net_names() {
  local port=$1
  bridge=pai${port}b
  nsprefix=pai${port}-n
}

# Runs CMD... with host name NAME and the cluster's /etc/hosts (a mount
# namespace of its own), in network namespace NETNS when given (nsenter
# --net, not `ip netns exec`, which remounts /sys without the cgroups slurmd
# needs).
# The single node keeps the machine's /etc/hosts: UTS namespace alone.
# shellcheck disable=SC2016  # the inner sh expands them
in_node() {
  local netns=$1 name=$2; shift 2
  local pre=()
  if [ "$name" = localhost ]; then
    unshare --uts sh -c 'hostname "$0" && exec "$@"' "$name" "$@"
    return
  fi
  [ -n "$netns" ] && pre=(nsenter "--net=/run/netns/$netns")
  "${pre[@]}" unshare --uts --mount --propagation private sh -c \
    'mount --bind "$0" /etc/hosts && hostname "$1" && shift && exec "$@"' \
    "$dir/hosts" "$name" "$@"
}

# Every slurmd on this machine shares one cgroup tree, slurm_<node>/ in each
# controller.  A node killed under its jobs leaves their job_<id> folders, and
# a later cluster whose job of that id lands on a node of that name then
# fails to launch ("Slurmd could not execve job": the stale folder's cpuset
# cannot change).  Empty folders are removed; busy ones stay (rmdir refuses).
cgroup_sweep() {
  local name=$1 d
  for d in /sys/fs/cgroup/*/"slurm_$name"; do
    [ -d "$d" ] || continue
    find "$d" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

stop() {
  local pidf any=0 ns p l n
  for pidf in "$dir"/slurmd*.pid; do alive "$pidf" && any=1; done
  # Jobs first: a task outlives slurmd otherwise (its slurmstepd keeps running).
  if alive "$dir/slurmctld.pid" && [ "$any" = 1 ]; then
    scancel --partition=pai --full 2>/dev/null || true
    for _ in $(seq 1 100); do
      [ -z "$(squeue -h -t running,completing,pending -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  stop_pid "$dir/slurmrestd.pid"
  for pidf in "$dir"/slurmd*.pid; do stop_pid "$pidf"; done
  stop_pid "$dir/slurmctld.pid"
  stop_pid "$dir/munge/munged.pid"
  # The nodes' namespaces: whatever still runs in them ends (by pid), then the
  # namespaces, their links and the bridge go.
  if [ -s "$dir/network" ]; then
    read -r bridge nsprefix < "$dir/network"
    for ns in $(ip netns list | awk '{print $1}' | grep -E "^${nsprefix}[0-9]+$" || true); do
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
      ip netns del "$ns" 2>/dev/null || true
    done
    # A namespace goes (and its veth pair with it) only once nothing holds it:
    # the host ends are removed here rather than left to the kernel's pace.
    for l in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 |
               grep -E "^${bridge%b}n[0-9]+$" || true); do
      ip link del "$l" 2>/dev/null || true
    done
    ip link del "$bridge" 2>/dev/null || true
    rm -f "$dir/network"
  fi
  [ -f "$dir/slurm.conf" ] &&
    sed -n 's/^NodeName=\([^ ]*\) NodeHostname=.*/\1/p' "$dir/slurm.conf" |
    while read -r n; do cgroup_sweep "$n"; done
  return 0
}

start() {
  local port=${PAI_SLURM_PORT:-16817} gpus=${PAI_SLURM_GPUS:-4} nodes=${PAI_SLURM_NODES:-1}
  local jobuser=${PAI_JOB_USER:-paijob} runas=${PAI_RUNAS:-pairest}
  local ncpu; ncpu=$(nproc)
  local cpus=${PAI_SLURM_CPUS:-$(( ncpu > 4 ? ncpu : 4 ))}
  # Real memory less 10% for the system, in MB.
  local mem=${PAI_SLURM_MEMORY_MB:-$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)}

  for u in "$jobuser" "$runas"; do
    id -u "$u" >/dev/null 2>&1 || useradd --system --create-home --home-dir "/var/lib/$u" \
        --shell /bin/bash "$u"
  done
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge" "$dir/dev"
  # Whatever the caller's umask (run.sh's is 077): the job accounts pass
  # through the spool to their batch script and open their GPUs' devices.
  chmod 755 "$dir/spool" "$dir/dev"
  chmod 755 "$dir"
  case "$nodes" in ''|*[!0-9]*|0) echo "slurm.sh: PAI_SLURM_NODES must be 1 or more" >&2; exit 2 ;; esac
  local node_timeout=${PAI_SLURM_NODE_TIMEOUT:-300}
  case "$node_timeout" in ''|*[!0-9]*|0)
    echo "slurm.sh: PAI_SLURM_NODE_TIMEOUT must be a number of seconds" >&2; exit 2 ;; esac

  # The nodes: names, addresses, and where the controller is reached.
  local names=() addrs=() ctlname=localhost ctladdr=127.0.0.1 i
  if [ "$nodes" -eq 1 ]; then
    names=(localhost); addrs=(127.0.0.1)
  else
    local subnet=${PAI_SLURM_SUBNET:-10.213.$((port % 250))}
    ctlname=pai-ctl; ctladdr=$subnet.1
    for i in $(seq 1 "$nodes"); do names+=("pai-n$i"); addrs+=("$subnet.$((10 + i))"); done
  fi
  echo "$ctladdr" > "$dir/ctl_address"
  { echo "127.0.0.1 localhost"; echo "$ctladdr $ctlname"
    for i in "${!names[@]}"; do echo "${addrs[i]} ${names[i]}"; done; } > "$dir/hosts"
  chmod 644 "$dir/hosts" "$dir/ctl_address"
  if [ "$nodes" -gt 1 ]; then
    net_names "$port"
    echo "$bridge $nsprefix" > "$dir/network"
    ip link show "$bridge" >/dev/null 2>&1 || {
      ip link add "$bridge" type bridge
      ip addr add "$ctladdr/24" dev "$bridge"
      ip link set "$bridge" up
    }
    # No route beyond the bridge: a node reaches its peers and this machine.
    for i in "${!names[@]}"; do
      local ns=$nsprefix$((i + 1))
      [ -e "/run/netns/$ns" ] && continue
      ip netns add "$ns"
      ip link add "${bridge%b}n$((i + 1))" type veth peer name eth0 netns "$ns"
      ip link set "${bridge%b}n$((i + 1))" master "$bridge" up
      ip -n "$ns" addr add "${addrs[i]}/24" dev eth0
      ip -n "$ns" link set eth0 up
      ip -n "$ns" link set lo up
    done
  fi

  # munge: a private key and socket, so this cluster shares nothing with others.
  chown munge: "$dir/munge"; chmod 755 "$dir/munge"
  if [ ! -s "$dir/munge/munge.key" ]; then
    (umask 077; head -c 1024 /dev/urandom > "$dir/munge/munge.key")
    chown munge: "$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"
  fi
  if ! alive "$dir/munge/munged.pid"; then
    runuser -u munge -- munged --force --socket="$dir/munge/munge.sock" \
        --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
        --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"
  fi

  # The signing key of Slurm's JWT auth: whoever holds it may act as any user.
  if [ ! -s "$dir/jwt_hs256.key" ]; then
    (umask 077; head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/jwt_hs256.key")
  fi
  chmod 600 "$dir/jwt_hs256.key"

  # GPUs without GPUs: character devices of their own (an unregistered major,
  # 242, minor = index: opening one gives ENXIO, or EPERM where the step's
  # devices cgroup denies it), so that Slurm binds them and isolation shows.
  local gpulast=$((gpus - 1)) gresline="" gresnode="" n f
  echo "AutoDetect=off" > "$dir/gres.conf"
  if [ "$gpus" -gt 0 ]; then
    for n in "${names[@]}"; do
      for i in $(seq 0 "$gpulast"); do
        f=$dir/dev/$n-gpu$i
        if [ "$(stat -c '%F %t:%T' "$f" 2>/dev/null)" != "character special file f2:$(printf %x "$i")" ]; then
          rm -f "$f"; mknod -m 666 "$f" c 242 "$i"
        fi
      done
      echo "NodeName=$n Name=gpu File=$dir/dev/$n-gpu[0-$gpulast]" >> "$dir/gres.conf"
    done
    gresline="GresTypes=gpu"
    gresnode="Gres=gpu:$gpus"
  fi
  local nodelines="" commline=""
  for i in "${!names[@]}"; do
    # Each slurmd's spool (its steps' domain sockets): slurmd does not make it.
    mkdir -p "$dir/spool/${names[i]}"
    nodelines+="NodeName=${names[i]} NodeHostname=${names[i]} NodeAddr=${addrs[i]} CPUs=$cpus RealMemory=$mem $gresnode State=UNKNOWN"$'\n'
  done
  # Multi-node: slurmctld binds the bridge address only (its own namespace
  # would be a different machine); in a node's namespace 0.0.0.0 is that node.
  [ "$nodes" -gt 1 ] && commline="CommunicationParameters=NoCtldInAddrAny"

  # The job folder root belongs to root and only root writes it: the prolog
  # (scripts/job/prolog.sh, as root) makes each account's own folder in it,
  # so no account can make, replace or link another's.  For the fault tests
  # alone (PAI_SLURM_TEST_HOLD=1) the prolog also holds a started job while
  # DIR/hold exists.
  local jobs=${PAI_JOBS_DIR:-$(dirname "$dir")/jobs} hold=""
  mkdir -p "$jobs"; chown root:root "$jobs"; chmod 755 "$jobs"
  [ "${PAI_SLURM_TEST_HOLD:-}" = 1 ] && hold=$dir
  # The image cache of the nodes (scripts/job/image.sh, run by the prolog):
  # root's, shared by every job and account on a node.
  local cache=${PAI_IMAGE_CACHE:-$(dirname "$dir")/images} cache_mb=${PAI_IMAGE_CACHE_MB:-10240}
  local insecure=${PAI_IMAGE_INSECURE:-127.0.0.1:*,localhost:*} mirrors=${PAI_IMAGE_MIRRORS:-}
  # A node's 127.0.0.1 is its own namespace's: this machine's registries are
  # at the bridge's address.
  if [ "$nodes" -gt 1 ]; then
    mirrors=${PAI_IMAGE_MIRRORS:-127.0.0.1=$ctladdr}
    insecure=${PAI_IMAGE_INSECURE:-127.0.0.1:*,localhost:*,$ctladdr:*}
  fi
  case "$cache_mb" in ''|*[!0-9]*) echo "slurm.sh: PAI_IMAGE_CACHE_MB must be a number" >&2; exit 2 ;; esac
  mkdir -p "$cache"; chown root:root "$cache"; chmod 755 "$cache"
  # The server's group reads the task logs in the accounts' folders.
  printf '#!/bin/sh\nexport SLURM_CONF=%q\nexec /bin/sh %q %q %q %q %q %q %q %q %q\n' "$conf" \
    "$root/scripts/job/prolog.sh" "$jobs" "$hold" "$cache" "$cache_mb" "$insecure" \
    "$mirrors" "$dir/dev/%n-gpu%i" "$(id -gn "$runas")" > "$dir/prolog"
  # Task logs go PAI_LOG_RETENTION days after their attempt ends (as the
  # server's PaiLogRetention, which stops serving them then; 0: kept).
  local retention=${PAI_LOG_RETENTION:-30}
  case "$retention" in ''|*[!0-9]*) echo "slurm.sh: PAI_LOG_RETENTION must be a number of days" >&2; exit 2 ;; esac
  printf '#!/bin/sh\nexec /bin/sh %q %q %q\n' "$root/scripts/job/epilog.sh" "$jobs" "$retention" \
    > "$dir/epilog"
  chmod 755 "$dir/prolog" "$dir/epilog"

  # Limits that hold: each step in cgroups of its own (memory and swap at
  # --mem, only its CPUs and GPU devices); a task past its memory is killed.
  cat > "$dir/cgroup.conf" <<CGROUP
CgroupPlugin=cgroup/v1
ConstrainCores=yes
ConstrainRAMSpace=yes
ConstrainSwapSpace=yes
AllowedSwapSpace=0
ConstrainDevices=yes
CGROUP

  cat > "$conf" <<CONF
# Generated by scripts/slurm.sh: $nodes node(s) on this machine.
Prolog=$dir/prolog
Epilog=$dir/epilog
ClusterName=pairest
SlurmctldHost=$ctlname($ctladdr)
$commline
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.sock
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$dir/jwt_hs256.key
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SchedulerType=sched/backfill
EnforcePartLimits=ALL
SchedulerParameters=batch_sched_delay=0
DefMemPerCPU=100
MinJobAge=86400
MaxJobCount=100000
# Job ids of their own per cluster (by port): clusters on one machine share
# the cgroup tree, where job_<id> folders of the same id would meet.
FirstJobId=$(( (port % 64) * 1000000 + 1 ))
MessageTimeout=5
KillWait=5
# A node silent this long is down. Slurm's default (300 s) also rides out a
# slurmctld restart: at 10 s a 30 s controller outage failed running jobs
# NODE_FAIL on a slow machine. The multi-node drills set it low.
SlurmdTimeout=$node_timeout
# A job whose node fails ends NODE_FAIL (mod_pairest retries it as a new
# attempt, if its retryCount allows) instead of waiting to be requeued.
JobRequeue=0
$gresline
${nodelines}PartitionName=pai Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  chmod 644 "$conf" "$dir/gres.conf" "$dir/cgroup.conf"

  if ! alive "$dir/slurmctld.pid"; then
    in_node "" "$ctlname" slurmctld -f "$conf"
  fi
  for i in "${!names[@]}"; do
    alive "$dir/slurmd-${names[i]}.pid" && continue
    cgroup_sweep "${names[i]}"
    if [ "$nodes" -eq 1 ]; then
      in_node "" localhost slurmd -f "$conf" -N localhost
    else
      in_node "$nsprefix$((i + 1))" "${names[i]}" slurmd -f "$conf" -N "${names[i]}"
    fi
  done
  for _ in $(seq 1 100); do alive "$dir/slurmctld.pid" && break; sleep 0.1; done
  alive "$dir/slurmctld.pid" || { echo "slurmctld did not start; see $dir/log/slurmctld.log" >&2; exit 1; }
  # Every node must be ready (IDLE), not drained, before jobs can run.
  local state="" ready
  for _ in $(seq 1 150); do
    alive "$dir/slurmctld.pid" || { echo "slurmctld died; see $dir/log/slurmctld.log" >&2; exit 1; }
    ready=1
    for n in "${names[@]}"; do
      state=$(sinfo -h -n "$n" -o '%t' 2>/dev/null || true)
      case "$state" in
        idle*|mix*|alloc*) ;;
        drain*|down*) ready=0; scontrol update nodename="$n" state=resume 2>/dev/null || true ;;
        *) ready=0 ;;
      esac
    done
    [ "$ready" = 1 ] && break
    sleep 0.2
  done
  [ "$ready" = 1 ] || { echo "a Slurm node is not ready (state '$state'); see $dir/log" >&2; exit 1; }

  if ! alive "$dir/slurmrestd.pid"; then
    # Its own folder, mode 0700: only httpd's account (and root) reach the socket.
    mkdir -p "$dir/rest"; chown "$runas:" "$dir/rest"; chmod 700 "$dir/rest"
    rm -f "$dir/rest/slurmrestd.sock"
    # slurmrestd runs as the httpd account, which alone may open its socket.
    # setpriv execs in place, so $! is slurmrestd itself.
    setsid setpriv --reuid="$runas" --regid="$runas" --init-groups \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin SLURM_CONF="$conf" SLURM_JWT=daemon \
        slurmrestd -a rest_auth/jwt -s openapi/v0.0.38 "unix:$dir/rest/slurmrestd.sock" \
        >>"$dir/log/slurmrestd.log" 2>&1 < /dev/null &
    echo $! > "$dir/slurmrestd.pid"
    for _ in $(seq 1 100); do [ -S "$dir/rest/slurmrestd.sock" ] && break; sleep 0.1; done
    [ -S "$dir/rest/slurmrestd.sock" ] || { echo "slurmrestd did not start; see $dir/log/slurmrestd.log" >&2; exit 1; }
  fi
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: slurm.sh start|stop DIR" >&2; exit 2 ;;
esac
