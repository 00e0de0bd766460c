#!/bin/bash
# mod_pairest's task wrapper: runs one task of a job, as the job's account, in
# the step Slurm made for it.  The batch script (batch.sh) writes this file
# into the attempt's private folder and starts it with srun.
#   task.sh DIR TASK COMMAND_FILE
# DIR: the attempt's folder (private to the account); TASK: role-index;
# COMMAND_FILE: the task's command, in a file of DIR, run by bash as a script
# (never on a command line: it may hold the job's secrets).  The environment holds the task's
# PAI_* variables and the job's jobEnvs (exported by the batch script: never
# on a command line).  DIR/.TASK.secret, when present, holds this attempt's
# secret for the SSH report: read and removed before anything else runs, so
# that neither the command nor its view of this process's environment has it.
# With PAI_CTR_MARKERS set, the command runs in the job's image
# (DIR/pai-container.sh, from scripts/job/container.sh).
set -u
dir=$1 task=$2 cmdfile=$3
ctr=
if [ -n "${PAI_CTR_MARKERS:-}" ]; then
  ctr=1
  # shellcheck source=scripts/job/container.sh
  . "$dir/pai-container.sh" || exit 70
fi

# First act: the step started (batch.sh retries only steps that never did).
: > "$dir/.$task.started" || exit 70

# Both streams also go, interleaved as written, to TASK.all (the log list's
# "all"), readable like TASK.out and TASK.err by the server's group (the
# step's umask, 027, from batch.sh); whatever the task makes itself is private.
exec > >(tee -a "$dir/$task.all")
tee_out=$!
exec 2> >(tee -a "$dir/$task.all" >&2)
tee_err=$!
umask 077
# The task's last words reach the files before the step ends: the pipes close
# (a process the command left running may hold them: 5 s at most).
pai_logs_flush() {
  exec >/dev/null 2>&1
  local _
  for _ in $(seq 1 50); do
    kill -0 "$tee_out" 2>/dev/null || kill -0 "$tee_err" 2>/dev/null || return 0
    sleep 0.1
  done
}

secret=
if [ -f "$dir/.$task.secret" ] && [ ! -L "$dir/.$task.secret" ]; then
  secret=$(<"$dir/.$task.secret")
  rm -f "$dir/.$task.secret"
fi

# The task's own sshd, for the job's key alone, on its own port.  It listens
# on IPv4 only (the address tasks report) so that a port another process took
# first makes it fail, not half-listen; the task reports its address and host
# key only once sshd has bound.  Without a free port the task runs without SSH.
pai_sshd() {
  local d=$dir/$task.ssh port=$PAI_CONTAINER_SSH_PORT
  # A folder of the account's own, made fresh; failing to make it is fatal.
  if ! { rm -rf "$d" && mkdir -m 700 "$d"; }; then
    echo "mod_pairest: cannot make $d" >&2; exit 70
  fi
  printf '%s\n' "$PAI_SSH_PUBLIC_KEY" > "$d/authorized_keys" || exit 70
  ssh-keygen -q -t ed25519 -N '' -C "pai-task-$task" -f "$d/host_key" </dev/null || exit 70
  # A login gets the task's environment: the container's own (container.sh
  # keeps it beside the container), or this one's.
  if [ -n "$ctr" ]; then
    pai_ctr_login_script "$d/login.sh" || exit 70
  else
    export -p | grep -v -E '^declare -x (SSH_|PAI_SSH_|SLURM_|PWD=|OLDPWD=|SHLVL=)' > "$d/env.sh" \
      || exit 70
    # shellcheck disable=SC2016  # expanded at login, not here
    printf '#!/bin/bash\n. %q\ncd %q || exit 1\nif [ -n "${SSH_ORIGINAL_COMMAND:-}" ]; then exec /bin/bash -c "$SSH_ORIGINAL_COMMAND"; else exec /bin/bash -l; fi\n' \
      "$d/env.sh" "$PWD" > "$d/login.sh" || exit 70
  fi
  chmod 700 "$d/login.sh" || exit 70
  printf '%s\n' "Port $port" "ListenAddress 0.0.0.0" "HostKey $d/host_key" \
    "AuthorizedKeysFile $d/authorized_keys" "PidFile $d/sshd.pid" \
    'PasswordAuthentication no' 'KbdInteractiveAuthentication no' 'UsePAM no' \
    'StrictModes no' "AllowUsers $(id -un)" "ForceCommand $d/login.sh" > "$d/sshd_config" \
    || exit 70
  # Not on the step's stdout: a lingering holder keeps Slurm's step (and the
  # job) COMPLETING until slurmstepd gives up on its IO a minute later.
  /usr/sbin/sshd -f "$d/sshd_config" -D -e </dev/null >>"$d/sshd.log" 2>&1 &
  sshd_pid=$!
  for _ in $(seq 1 50); do
    grep -q "Server listening on 0.0.0.0 port $port\." "$d/sshd.log" 2>/dev/null && break
    kill -0 "$sshd_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! kill -0 "$sshd_pid" 2>/dev/null ||
     ! grep -q "Server listening on 0.0.0.0 port $port\." "$d/sshd.log"; then
    echo "mod_pairest: sshd could not listen on port $port (taken by another process?);" \
         "this task has no SSH: $(tail -n 2 "$d/sshd.log" | tr '\n' ' ')" >&2
    kill "$sshd_pid" 2>/dev/null
    sshd_pid=
    return 0
  fi
  local hostkey
  hostkey=$(cut -d ' ' -f 1,2 "$d/host_key.pub")
  # The secret goes in a header read from stdin: never on a command line.
  # An https report URL is verified with PAI_SSH_REPORT_CA when the server's
  # certificate is of a CA the nodes do not trust themselves.
  curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST ${PAI_SSH_REPORT_CA:+--cacert "$PAI_SSH_REPORT_CA"} \
    -H 'Content-Type: application/json' -H @- "$PAI_SSH_REPORT_URL" \
    -d "{\"attempt\": $PAI_JOB_ATTEMPT, \"taskRole\": \"$PAI_CURRENT_TASK_ROLE_NAME\", \"taskIndex\": $PAI_TASK_INDEX, \"ip\": \"$PAI_CONTAINER_HOST_IP\", \"port\": $port, \"hostKey\": \"$hostkey\"}" \
    <<<"X-PAI-Job-Secret: $secret" | grep -q '^200$' \
    || echo "mod_pairest: could not report the sshd of this task" >&2
}
# TERM (scancel, STOP, the completion rule) reaches every process of the step.
# The wrapper then waits for its children before it exits: Slurm ends a step
# once its cgroup is empty, and children left to be reaped by others linger
# there as zombies for seconds.  A container is outside the step's cgroup:
# it is killed and removed here.
cmd_pid='' sshd_pid=''
# shellcheck disable=SC2317  # run by the trap
pai_end() {
  [ -n "$ctr" ] && pai_ctr_remove
  [ -n "$cmd_pid" ] && kill -TERM "$cmd_pid" 2>/dev/null
  [ -n "$sshd_pid" ] && kill -TERM "$sshd_pid" 2>/dev/null
  # No wait for the tees here: what the command left running (a child of
  # its shell survives that shell's TERM) holds their pipes until Slurm
  # kills the step, and a stopped job must free its nodes at once.
  [ -n "$cmd_pid" ] && wait "$cmd_pid"
  [ -n "$sshd_pid" ] && wait "$sshd_pid"
  exit 143
}
trap pai_end TERM INT

# The container first (an SSH login enters it), then the task's sshd.
if [ -n "$ctr" ]; then
  # An early exit (sshd's folder) removes the container too.
  trap pai_ctr_remove EXIT
  pai_ctr_start || exit 71
fi
if [ -n "${PAI_SSH_PUBLIC_KEY:-}" ] && [ -n "$secret" ] && [ -x /usr/sbin/sshd ]; then
  pai_sshd
fi
# What the start report needs, kept unexported: the command's environment
# has none of the reports' variables.
report_url=${PAI_TASK_REPORT_URL:-} report_ca=${PAI_SSH_REPORT_CA:-}
unset PAI_SSH_PUBLIC_KEY PAI_SSH_REPORT_URL PAI_SSH_REPORT_CA PAI_TASK_REPORT_URL

if [ -z "$ctr" ]; then
  /bin/bash "$cmdfile" &
  cmd_pid=$!
fi
# The task's start and node, for its state in the job's detail (the batch
# script reports its end), once its command runs: the report must not hold
# the command back.  A task runs without it.
if [ -n "$secret" ] && [ -n "$report_url" ]; then
  curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST ${report_ca:+--cacert "$report_ca"} \
    -H 'Content-Type: application/json' -H @- "$report_url" \
    -d "{\"attempt\": $PAI_JOB_ATTEMPT, \"taskRole\": \"$PAI_CURRENT_TASK_ROLE_NAME\", \"taskIndex\": $PAI_TASK_INDEX, \"event\": \"started\", \"node\": \"${SLURMD_NODENAME:-$(hostname)}\"}" \
    <<<"X-PAI-Job-Secret: $secret" | grep -q '^200$' \
    || echo "mod_pairest: could not report the start of this task" >&2
fi
unset secret
wait "$cmd_pid"
st=$?
cmd_pid=
[ -n "$ctr" ] && pai_ctr_finish "$st"
if [ -n "$sshd_pid" ]; then
  kill "$sshd_pid" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$sshd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$sshd_pid" 2>/dev/null; wait "$sshd_pid" 2>/dev/null
fi
pai_logs_flush
exit $st
