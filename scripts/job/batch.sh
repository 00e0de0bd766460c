# shellcheck shell=bash
# mod_pairest's batch script: one attempt of a job in its Slurm allocation.
# core/launcher_slurm.c submits "#!/bin/bash", a header of quoted data, the
# task wrapper (task.sh) as the function pai_write_task_wrapper, then this.
# The header defines:
#   pai_job pai_attempt pai_owner    the job, its attempt, its PAI user
#   pai_account_dir                  the account's own folder under PaiJobLogDir,
#                                    made for it alone by Slurm's prolog (prolog.sh)
#   pai_attempt_dir                  pai_account_dir/<job>/attempt-<n>
#   pai_job_created                  the job's submission time (ms), kept in
#                                    <job>/.pai-created
#   pai_report_secret                this attempt's secret for the tasks' reports ('': none)
#   pai_task_report_url              where a task's end is reported ('': nowhere)
#   pai_report_ca                    the CA file that URL is verified with ('': the system's)
#   pai_comment                      the job's Slurm comment (its launch tag)
#   pai_image                        '' (tasks on the node) or the image the tasks run
#                                    in (container.sh); the node's prolog pulled it
#   pai_ctr_mounts                   host folders the containers bind at the same path
#   pai_step_retry pai_step_immediate   seconds (see pai_task)
#   pai_job_env                      K=V words every task gets; @IP<n>@ is the address
#                                    of the allocation's n-th node
#   task_name task_role task_cpus task_mem task_gres   one entry per task
#   task_slot                        per task: which of the allocation's nodes runs it
#   role_cmd                         one entry per role: its command (handed to
#                                    the tasks in a file: .role-<r>.command)
#   task_env_<k>                     K=V words of task k alone; @HOST_IP@ is its node's address
#   min_failed need                  per role: minFailedTaskCount (0: none), tasks to succeed
# shellcheck disable=SC2154

# Nobody else's business: with one account per user, this keeps the job's
# files from the other users' tasks.
umask 077

# The account's folder must be a real folder of this account's alone, or a
# task's files (the wrapper, the SSH keys) could be swapped by whoever
# controls it.  Any doubt ends the attempt (exit 70) before anything runs.
# The prolog gives the server's group read access (mode 2750) for the logs;
# no one but the account may write it.
pai_private_dir() {
  [ -d "$1" ] && [ ! -L "$1" ] && [ -O "$1" ] && [ $(( 0$(stat -c %a "$1") & 027 )) -eq 0 ]
}
# The reason goes to the job's comment (there is no safe folder to log in),
# where the launcher reads it for appExitDiagnostics.
pai_folder_refused() {
  [ -n "${SLURM_JOB_ID:-}" ] &&
    scontrol update jobid="$SLURM_JOB_ID" comment="$pai_comment;failed=-/folder" 2>/dev/null
  exit 70
}
pai_private_dir "$pai_account_dir" || pai_folder_refused
# A deleted job of the same name left its folder: it goes aside (its owner
# keeps it) under a name no job can have, so that this job starts empty.
pai_job_dir=${pai_attempt_dir%/*}
if [ -d "$pai_job_dir" ] && [ -f "$pai_job_dir/.pai-created" ] &&
   [ "$(head -c 32 "$pai_job_dir/.pai-created")" != "$pai_job_created" ]; then
  mv -T "$pai_job_dir" "$pai_job_dir@deleted-$(date +%s%N)" || pai_folder_refused
fi
# The job's and the attempt's folders: the server's group (inherited from the
# account's folder) reads the task logs in them.
{ (umask 027 && mkdir -p "$pai_attempt_dir") && cd "$pai_attempt_dir"; } || pai_folder_refused
# (the server reads it too: it serves a folder's logs to its job alone)
[ -f "$pai_job_dir/.pai-created" ] ||
  (umask 027 && printf '%s\n' "$pai_job_created" > "$pai_job_dir/.pai-created")
exec >>"$pai_attempt_dir/batch.log" 2>&1
# The attempt's end, by its time: Slurm's epilog removes an attempt's folder
# PaiLogRetention days after it (epilog.sh); one without it is never removed.
trap 'touch "$pai_attempt_dir/.pai-ended" 2>/dev/null' EXIT
echo "mod_pairest: job $pai_job, attempt $pai_attempt, of $pai_owner, as $(id -un)"

# The allocation's nodes in Slurm's order (the launcher reads the job's node
# list in the same order for the tasks' containerIp), and their addresses:
# Slurm's NodeAddr, else what the name resolves to.
mapfile -t node_name < <(scontrol show hostnames "${SLURM_JOB_NODELIST:-$(hostname)}" 2>/dev/null)
[ "${#node_name[@]}" -gt 0 ] || node_name=("$(hostname)")
declare -A addr_of=()
while read -r n a; do
  [ -n "$a" ] && addr_of[$n]=$a
done < <(sinfo -h -N -n "$(IFS=,; echo "${node_name[*]}")" -o '%N %o' 2>/dev/null)
node_ip=()
for i in "${!node_name[@]}"; do
  n=${node_name[i]}
  a=${addr_of[$n]:-$(getent ahostsv4 "$n" 2>/dev/null | awk 'NR==1 {print $1}')}
  node_ip[i]=${a:-127.0.0.1}
  echo "mod_pairest: node $i is $n at ${node_ip[i]}"
done
for k in "${!task_slot[@]}"; do
  if [ "${task_slot[k]}" -ge "${#node_name[@]}" ]; then
    echo "mod_pairest: task ${task_name[k]} is placed on node ${task_slot[k]}, but the allocation has ${#node_name[@]}"
    exit 70
  fi
done
# Every task's view of the others: the nodes' addresses go into the shared
# variables once, here.
for i in "${!pai_job_env[@]}"; do
  kv=${pai_job_env[i]}
  case "$kv" in
    *@IP*@*) for n in "${!node_ip[@]}"; do kv=${kv//@IP$n@/${node_ip[n]}}; done
             pai_job_env[i]=$kv ;;
  esac
done

pai_write_task_wrapper > "$pai_attempt_dir/pai-task.sh" || exit 70
if [ -n "$pai_image" ]; then
  pai_write_container_runtime > "$pai_attempt_dir/pai-container.sh" || exit 70
  # The prolog's markers: root's folder beside the accounts' (image.sh).
  PAI_CTR_MARKERS=$(dirname "$pai_account_dir")/.pai-images
  PAI_CTR_MOUNTS=$(printf '%s\n' "${pai_ctr_mounts[@]}")
  export PAI_CTR_MARKERS PAI_CTR_MOUNTS
  echo "mod_pairest: tasks run in the image $pai_image"
fi
# Each task's report secret in a file of its own, which its wrapper reads and
# removes: the secret never appears on a command line or in an environment.
for k in "${!task_name[@]}"; do
  if [ -n "$pai_report_secret" ]; then
    printf '%s\n' "$pai_report_secret" > "$pai_attempt_dir/.${task_name[k]}.secret" || exit 70
  fi
done
# The script keeps its copy (not exported: no task sees it) for the tasks'
# ends, which it reports itself.
# Each role's command in a file of the folder too: a command may hold the job's
# secrets (a v2 job's), and a command line is anyone's to read (ps).
for r in "${!role_cmd[@]}"; do
  printf '%s\n' "${role_cmd[r]}" > "$pai_attempt_dir/.role-$r.command" || exit 70
done

# One task's step, in a process of its own: its environment is exported here
# (srun passes it on) so that no value shows on srun's command line.
pai_step() {
  local k=$1 kv slot=${task_slot[$1]}
  local -n tenv="task_env_$k"
  # The task's logs (made by slurmstepd with the step's umask) are for the
  # server's group to read too; task.sh goes back to 077 for the rest.
  umask 027
  for kv in "${pai_job_env[@]}" "${tenv[@]}"; do
    export "${kv//@HOST_IP@/${node_ip[slot]}}"
  done
  exec srun --exact --immediate="$pai_step_immediate" --ntasks=1 --nodes=1 \
    --nodelist="${node_name[slot]}" \
    --cpus-per-task="${task_cpus[k]}" --mem="${task_mem[k]}" --gres="${task_gres[k]}" \
    --job-name="${task_name[k]}" \
    --output="$pai_attempt_dir/${task_name[k]}.out" --error="$pai_attempt_dir/${task_name[k]}.err" \
    /bin/bash "$pai_attempt_dir/pai-task.sh" "$pai_attempt_dir" "${task_name[k]}" \
    "$pai_attempt_dir/.role-${task_role[k]}.command"
}

# srun needs slurmctld to make a step: while it is down, a batch script that
# already runs would fail its tasks before they start, and a job the user
# wrote well would end FAILED.  A step that never started (no mark) is tried
# again for up to pai_step_retry seconds; once the wrapper ran, the exit
# status is the task's own.  TERM (the completion rule, scancel) ends the step
# too.  The steps of a job fit its allocation exactly, so a step is refused
# only for a passing reason (the node not yet back on a slurmctld that just
# restarted): srun --immediate gives up on it in seconds, where srun alone
# would wait at least 60 s to ask again.
# slurmd can also fail a launch (seen: a cgroup write racing another job's
# on the node, "Slurmd could not execve job"), and srun then exits 0: only
# the mark says that the task ran.
pai_task() {
  local k=$1 started="$pai_attempt_dir/.${task_name[$1]}.started" child='' st
  local until=$((SECONDS + pai_step_retry))
  trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM
  while :; do
    pai_step "$k" & child=$!
    wait "$child"; st=$?
    # Success is the task's own: srun also exits 0 when slurmd failed to
    # launch it (no mark).
    [ -e "$started" ] && return "$st"
    if [ "$SECONDS" -ge "$until" ]; then
      echo "mod_pairest: the task ${task_name[k]} never started (srun exit $st); it counts as failed"
      return $(( st == 0 ? 70 : st ))
    fi
    echo "mod_pairest: the step of task ${task_name[k]} did not start (srun exit $st); again in 5 s"
    sleep 5 & child=$!
    wait "$child"
  done
}

# A failed task's word for the server: its step never started (no mark),
# the kernel killed it for memory (Slurm's cgroup: "oom-kill event" in the
# step's stderr), or the wrapper's own (the container's image, its memory:
# one short word of [a-z-]); else its exit code.
pai_task_why() {
  local k=$1 code=$2 why w
  why=exit$code
  [ -e "$pai_attempt_dir/.${task_name[k]}.started" ] || why=nostart
  grep -q -e 'oom-kill event' -e 'Out Of Memory' \
    "$pai_attempt_dir/${task_name[k]}.err" 2>/dev/null && why=oom
  w=$(head -c 32 "$pai_attempt_dir/.${task_name[k]}.why" 2>/dev/null | tr -cd 'a-z-')
  [ -n "$w" ] && why=$w
  printf '%s\n' "$why"
}

# A task's end, for its state in the job's detail: a few seconds at most, and
# after one report that fails, no more (the server may be down; the job's own
# state does not depend on it).  The secret goes in a header read from stdin.
report_down=
# A third argument is the word to give a failed end ("ended": the completion
# rule ended the task).
pai_report_exit() {
  local k=$1 code=$2 why=${3:-}
  [ -n "$pai_task_report_url" ] && [ -n "$pai_report_secret" ] && [ -z "$report_down" ] \
    || return 0
  if [ "$code" -eq 0 ]; then why=''; elif [ -z "$why" ]; then why=$(pai_task_why "$k" "$code"); fi
  curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST ${pai_report_ca:+--cacert "$pai_report_ca"} \
    -H 'Content-Type: application/json' -H @- "$pai_task_report_url" \
    -d "{\"attempt\": $pai_attempt, \"taskRole\": \"${task_name[k]%-*}\", \"taskIndex\": ${task_name[k]##*-}, \"event\": \"exited\", \"exitCode\": $((code > 255 ? 255 : code)), \"why\": \"$why\", \"node\": \"${node_name[${task_slot[k]}]}\"}" \
    <<<"X-PAI-Job-Secret: $pai_report_secret" | grep -q '^200$' && return 0
  report_down=1
  echo "mod_pairest: could not report the end of task ${task_name[k]}; no more reports"
}

# TERM (scancel, STOP) ends the tasks; the script waits for them, so that
# none is left to linger in the step's cgroup as an unreaped zombie.
# shellcheck disable=SC2317  # run by the trap
pai_batch_end() {
  local pid
  for pid in "${!role_of[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  wait
  exit 143
}
trap pai_batch_end TERM

declare -A role_of=() task_of=()
for k in "${!task_name[@]}"; do
  pai_task "$k" &
  role_of[$!]=${task_role[k]}
  task_of[$!]=$k
done

# FrameworkLauncher's completion rule: a role fails when minFailedTaskCount
# of its tasks failed, succeeds when `need` of them did; the job fails when
# one role fails and succeeds when all succeed; the other tasks then end.
failed=() succeeded=()
for r in "${!need[@]}"; do failed[r]=0; succeeded[r]=0; done
left=${#role_of[@]}
code=0 first_failed=
verdict=
while [ "$left" -gt 0 ]; do
  finished=
  wait -n -p finished
  st=$?
  [ -n "$finished" ] || break
  left=$((left - 1))
  r=${role_of[$finished]}
  unset "role_of[$finished]"
  pai_report_exit "${task_of[$finished]}" "$st"
  if [ "$st" -eq 0 ]; then
    succeeded[r]=$((succeeded[r] + 1))
  else
    failed[r]=$((failed[r] + 1))
    if [ "$code" -eq 0 ]; then code=$st; first_failed=${task_of[$finished]}; fi
    if [ "${min_failed[r]}" -gt 0 ] && [ "${failed[r]}" -ge "${min_failed[r]}" ]; then
      verdict=failed; break
    fi
  fi
  all=1
  for i in "${!need[@]}"; do [ "${succeeded[i]}" -ge "${need[i]}" ] || all=0; done
  if [ "$all" -eq 1 ]; then verdict=succeeded; break; fi
done
# The tasks the verdict ended are reported too, as ended by it.
for pid in "${!role_of[@]}"; do kill -TERM "$pid" 2>/dev/null; done
for pid in "${!role_of[@]}"; do
  wait "$pid"
  pai_report_exit "${task_of[$pid]}" "$?" ended
done
wait
echo "mod_pairest: verdict ${verdict:-all tasks ended}, first failure code $code"
if [ "$verdict" = failed ]; then
  # Which task failed first, and whether the kernel killed it for memory
  # (Slurm's cgroup: "oom-kill event" in the step's stderr): added to the
  # job's comment, where the launcher reads the reason.
  if [ -n "$first_failed" ] && [ -n "${SLURM_JOB_ID:-}" ] && [ -n "$pai_comment" ]; then
    why=$(pai_task_why "$first_failed" "$code")
    scontrol update jobid="$SLURM_JOB_ID" \
      comment="$pai_comment;failed=${task_name[first_failed]}/$why" \
      || echo "mod_pairest: could not record the failing task in the job's comment"
  fi
  exit $(( code == 0 ? 1 : code ))
fi
exit 0
