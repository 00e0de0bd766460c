#!/bin/sh
# mod_pairest's Slurm epilog (run as root by slurmd when a job ends on a node):
# ends what a job's containers left behind and lets go of its image.
#   epilog.sh ROOT
# A task's container sits in a cgroup of its own below the step's (rootless
# runc makes it), where Slurm's signals do not reach: the task wrapper kills
# it on TERM, but a wrapper killed outright (SIGKILL) cannot.  Every process
# still in the job's cgroups here is killed, and the emptied folders removed.
root=${1:?usage: epilog.sh ROOT}
job=${SLURM_JOB_ID:-}
node=${SLURMD_NODENAME:-$(hostname)}
case "$job" in ''|*[!0-9]*) exit 0 ;; esac

for d in /sys/fs/cgroup/*/"slurm_$node"/uid_*/"job_$job"; do
  [ -d "$d" ] || continue
  find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
    kill -KILL "$pid" 2>/dev/null
  done
done
for d in /sys/fs/cgroup/*/"slurm_$node"/uid_*/"job_$job"; do
  [ -d "$d" ] || continue
  find "$d" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null
done

/bin/bash "$(dirname "$0")/image.sh" release "$root/.pai-images" "$job" "$node"
exit 0
