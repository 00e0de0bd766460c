# shellcheck shell=bash
# mod_pairest's container runtime for one task (sourced by the task wrapper,
# task.sh): the task's command runs in the job's image under rootless runc,
# as the job's account (uid 0 inside a user namespace that maps it to the
# account alone), in the step Slurm made for it:
#   - the image is the bundle the node's cache unpacked (scripts/job/image.sh,
#     run by Slurm's prolog as root); its root file system is read-only, with
#     tmpfs on /tmp, the image's home and /dev/shm (shmMB);
#   - the node's network (the ports and addresses of the tasks are the host's);
#   - the attempt's folder, and dataDir/outputDir/codeDir when they are folders
#     on the node, at the same paths;
#   - GPUs: the device files of the step's GPUs alone (SLURM_STEP_GPUS);
#   - limits: runc puts the container in a cgroup below the step's, so the
#     step's memory, CPU and device limits hold inside;
#   - ending: runc leaves the step's cgroup, where Slurm's signals do not
#     reach, so TERM here kills and removes the container (and Slurm's epilog
#     kills what a SIGKILL of this wrapper would leave).
# Settings (exported by the batch script): PAI_CTR_MARKERS, root's folder of
# the node's markers (scripts/job/image.sh), PAI_CTR_MOUNTS, host folders to
# bind (newline-separated); PAI_CURRENT_TASK_ROLE_SHM_MB sizes /dev/shm.  The
# marker's second line, "gpu PATTERN", is where the node keeps GPU %i's device.
# The task wrapper sets dir, task and cmdfile.
# shellcheck disable=SC2154

ctr_id='' ctr_root='' ctr_pid='' ctr_bundle='' ctr_gpu='' ctr_shell=/bin/sh ctr_dir=''

# The bundle the prolog pulled for this job on this node, or the reason why
# not, in DIR/.TASK.why for the batch script's verdict.
pai_ctr_bundle() {
  local marker="$PAI_CTR_MARKERS/${SLURM_JOB_ID:-0}.${SLURMD_NODENAME:-$(hostname)}" word rest
  if [ ! -f "$marker" ] || [ "$(stat -c %u "$marker")" != 0 ]; then
    echo "mod_pairest: the node did not prepare the image (no marker $marker)" >&2
    echo "image-missing" > "$dir/.$task.why"; return 1
  fi
  { read -r word rest; read -r _ ctr_gpu; } < "$marker"
  if [ "$word" != ok ] || [ ! -d "$rest/rootfs" ]; then
    echo "mod_pairest: the image could not be pulled on this node: $rest" >&2
    echo "image-${rest:-pull}" > "$dir/.$task.why"; return 1
  fi
  ctr_bundle=$rest
}

# runc's state, private to the account: a folder of its own under /tmp (the
# nodes' /tmp is shared by every account, so its owner is checked).
pai_ctr_state() {
  ctr_root=${TMPDIR:-/tmp}/pai-runc-$(id -u)
  mkdir -m 700 "$ctr_root" 2>/dev/null
  if [ -L "$ctr_root" ] || [ ! -d "$ctr_root" ] || [ ! -O "$ctr_root" ] ||
     [ "$(stat -c %a "$ctr_root")" != 700 ]; then
    echo "mod_pairest: $ctr_root is not this account's own private folder" >&2
    return 1
  fi
}

# config.json of the task's container, in its own folder of the attempt.
pai_ctr_config() {
  local out=$1 rootfs=$ctr_bundle/rootfs gpus=() binds=() i p
  if [ -e "$rootfs/usr/bin/bash" ] || [ -e "$rootfs/bin/bash" ]; then ctr_shell=/bin/bash; fi
  # The step's GPUs: Slurm's indices on this node, each a device file.
  if [ -n "${SLURM_STEP_GPUS:-}" ] && [ -n "$ctr_gpu" ]; then
    for i in ${SLURM_STEP_GPUS//,/ }; do
      case "$i" in *[!0-9]*|'') continue ;; esac
      p=${ctr_gpu//%i/$i}
      [ -c "$p" ] && gpus+=("$p" "/dev/nvidia$i")
    done
  fi
  # Folders of the node, where the image has their mount point (the
  # node's cache made it, never through a link of the image).
  while IFS= read -r p; do
    [ -n "$p" ] || continue
    if [ -d "$p" ] && [ -d "$rootfs$p" ] && [ ! -L "$rootfs$p" ]; then
      binds+=("$p")
    elif [ -d "$p" ]; then
      echo "mod_pairest: $p is not mounted: the image has no place for it" >&2
    fi
  done <<<"${PAI_CTR_MOUNTS:-}"
  # The image's own variables (PATH, HOME, …), then the task's: PAI_*,
  # jobEnvs, SLURM_*, CUDA_VISIBLE_DEVICES; not the host's paths and shell,
  # nor the wrapper's SSH set-up (unset before a command on the node, too).
  jq -n --slurpfile img "$ctr_bundle/config.json" --arg root "$rootfs" --arg cwd "$dir" \
     --arg shell "$ctr_shell" --arg cmd "$cmdfile" --arg go "$out/go" --argjson uid "$(id -u)" --argjson gid "$(id -g)" \
     --arg shm "${PAI_CURRENT_TASK_ROLE_SHM_MB:-64}" --argjson gpus "$(jq -n '$ARGS.positional' --args "${gpus[@]}")" \
     --argjson binds "$(jq -n '$ARGS.positional' --args "${binds[@]}")" '
    def host_env: $ENV | to_entries
      | map(select(.key | test("^(PATH|HOME|PWD|OLDPWD|SHLVL|_|SHELL|USER|LOGNAME|MAIL|TMPDIR|LD_.*|PAI_CTR_.*|PAI_SSH_.*|BASH_FUNC_.*)$") | not))
      | map("\(.key)=\(.value)");
    ($img[0].process.env // ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]) as $ienv
    | ([$ienv[] | select(startswith("HOME="))][0] // "HOME=/root" | ltrimstr("HOME=")) as $home
    | {
      ociVersion: "1.0.2",
      process: {
        terminal: false, user: {uid: 0, gid: 0}, cwd: $cwd,
        args: [$shell, "-c", "read -r -t 30 _ < \"$1\" && exec \"$0\" \"$2\"",
               $shell, $go, $cmd],
        env: ($ienv + host_env + ["HOME=\($home)"]),
        capabilities: {
          bounding: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
          effective: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
          permitted: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
          ambient: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]},
        noNewPrivileges: true},
      root: {path: $root, readonly: true},
      mounts: ([
        {destination: "/proc", type: "proc", source: "proc"},
        {destination: "/dev", type: "tmpfs", source: "tmpfs",
         options: ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {destination: "/dev/pts", type: "devpts", source: "devpts",
         options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
        {destination: "/dev/shm", type: "tmpfs", source: "shm",
         options: ["nosuid", "nodev", "mode=1777", "size=\($shm)m"]},
        {destination: "/dev/mqueue", type: "mqueue", source: "mqueue",
         options: ["nosuid", "noexec", "nodev"]},
        {destination: "/sys", type: "none", source: "/sys",
         options: ["rbind", "nosuid", "noexec", "nodev", "ro"]},
        {destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"]},
        {destination: "/etc/hosts", type: "none", source: "/etc/hosts", options: ["bind", "ro"]},
        {destination: "/etc/resolv.conf", type: "none", source: "/etc/resolv.conf",
         options: ["bind", "ro"]}]
        + (if $home != "/" and $home != "/tmp" then
             [{destination: $home, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=700"]}]
           else [] end)
        + [$binds[] | {destination: ., type: "none", source: ., options: ["rbind", "nosuid"]}]
        + [range(0; $gpus | length; 2) as $k
           | {destination: $gpus[$k + 1], type: "none", source: $gpus[$k], options: ["bind"]}]),
      linux: {
        uidMappings: [{containerID: 0, hostID: $uid, size: 1}],
        gidMappings: [{containerID: 0, hostID: $gid, size: 1}],
        namespaces: [{type: "pid"}, {type: "ipc"}, {type: "mount"}, {type: "user"}],
        maskedPaths: ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
          "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
          "/sys/firmware", "/proc/scsi"],
        readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]}
    }' > "$out/config.json"
}

# The kernel's OOM kills happen in the container's own memory cgroup (below
# the step's; cgroup v1 counts them there alone), which runc removes when the
# container ends: `runc events` reports them as they happen.  The task's
# command waits on DIR/.TASK.ctr/go until the watcher listens (its eventfd
# is open), so that no early kill goes unseen.
ctr_events_pid=''
pai_ctr_watch() {
  runc --root "$ctr_root" events --interval 24h "$ctr_id" > "$ctr_dir/events" 2>/dev/null &
  ctr_events_pid=$!
  # Seen here: 40 ms; a loaded node may take seconds.
  for _ in $(seq 1 500); do
    find "/proc/$ctr_events_pid/fd" -lname 'anon_inode:\[eventfd\]' 2>/dev/null | grep -q . &&
      return 0
    kill -0 "$ctr_events_pid" 2>/dev/null || break
    sleep 0.02
  done
  echo "mod_pairest: cannot watch the container's memory events; an OOM kill will read as exit 137" >&2
}

# Kills and removes the container (TERM, or the end of the task).
# shellcheck disable=SC2317  # run by the trap
pai_ctr_remove() {
  [ -n "$ctr_id" ] || return 0
  [ -n "$ctr_events_pid" ] && kill "$ctr_events_pid" 2>/dev/null
  runc --root "$ctr_root" kill "$ctr_id" KILL 2>/dev/null
  runc --root "$ctr_root" delete --force "$ctr_id" 2>/dev/null
}

# An SSH login's command: it enters the container's namespaces (user, mount,
# IPC, PID) as the account, with the container's environment and folder; no
# sshd in the image.
pai_ctr_login_script() {
  # shellcheck disable=SC2016  # expanded at login, not here
  printf '#!/bin/bash\npid=$(cat %q) || exit 1\nexec env -i /usr/bin/nsenter -t "$pid" -U -m -i -p --preserve-credentials -r -w -- %q -c %q sh %q %q "${SSH_ORIGINAL_COMMAND:-}"\n' \
    "$ctr_dir/pid" "$ctr_shell" \
    '. "$1"; cd "$2" || exit 1; if [ -n "$3" ]; then exec "$0" -c "$3"; else exec "$0" -l; fi' \
    "$ctr_dir/env.sh" "$dir" > "$1"
}

# Starts the container in the background (cmd_pid: its runc); its first
# process's pid (on the node) and its environment go to DIR/.TASK.ctr/ for
# SSH logins.
pai_ctr_start() {
  local cdir=$dir/.$task.ctr st
  ctr_dir=$cdir
  pai_ctr_bundle || return 1
  pai_ctr_state || { echo "runtime" > "$dir/.$task.why"; return 1; }
  rm -rf "$cdir" && mkdir -m 700 "$cdir" && mkfifo -m 600 "$cdir/go" || return 1
  pai_ctr_config "$cdir" || { echo "mod_pairest: cannot write the container's config" >&2; return 1; }
  jq -r '.process.env[] | "export " + @sh' "$cdir/config.json" > "$cdir/env.sh" || return 1
  ctr_id=pai-${SLURM_JOB_ID:-0}.${SLURM_STEP_ID:-0}-$task
  runc --root "$ctr_root" delete --force "$ctr_id" 2>/dev/null
  runc --root "$ctr_root" run --bundle "$cdir" "$ctr_id" </dev/null &
  cmd_pid=$!
  for _ in $(seq 1 100); do
    st=$(runc --root "$ctr_root" state "$ctr_id" 2>/dev/null) &&
      ctr_pid=$(jq -r 'select(.status == "running" or .status == "created") | .pid' <<<"$st") &&
      [ -n "$ctr_pid" ] && [ "$ctr_pid" != 0 ] && break
    ctr_pid=
    kill -0 "$cmd_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$ctr_pid" ] && echo "$ctr_pid" > "$cdir/pid" && pai_ctr_watch
  # Go (a container that already ended has no reader: the open would block).
  # shellcheck disable=SC2016  # $1 is the inner sh's
  [ -n "$ctr_pid" ] && timeout 5 sh -c 'echo go > "$1"' sh "$cdir/go"
  return 0
}

# After the container's end: its status, and whether the kernel killed it
# for memory (runc's cgroup is below the step's: Slurm does not see it).
pai_ctr_finish() {
  local st=$1
  if [ -n "$ctr_events_pid" ]; then
    kill "$ctr_events_pid" 2>/dev/null; wait "$ctr_events_pid" 2>/dev/null
    ctr_events_pid=''
  fi
  if [ "$st" -ne 0 ] && grep -q '"type":"oom"' "$ctr_dir/events" 2>/dev/null; then
    echo "mod_pairest: the task's container was killed for memory (oom-kill event)" >&2
    echo "oom" > "$dir/.$task.why"
  fi
  pai_ctr_remove
  ctr_id=
}
