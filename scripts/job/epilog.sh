#!/bin/sh
# mod_pairest's Slurm epilog (run as root by slurmd when a job ends on a node):
# ends what a job's containers left behind and lets go of its image.
#   epilog.sh ROOT
# A task's container sits in a cgroup of its own below the step's (rootless
# runc makes it), where Slurm's signals do not reach: the task wrapper kills
# it on TERM, but a wrapper killed outright (SIGKILL), or one whose TERM trap
# failed, cannot.  Every process still in the job's cgroups here is killed,
# the emptied folders removed, and runc's record of the container deleted.
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

# And runc's record of such a container (rootless runc keeps it in the
# account's own folder, /tmp/pai-runc-UID): removed as that account.
uid=${SLURM_JOB_UID:-} user=${SLURM_JOB_USER:-}
case "$uid" in ''|0|*[!0-9]*) uid= ;; esac
state=/tmp/pai-runc-$uid
if [ -n "$uid" ] && [ -n "$user" ] && [ -d "$state" ] && [ ! -L "$state" ] &&
   command -v runc >/dev/null 2>&1; then
  for c in "$state"/pai-"$job".*; do
    [ -d "$c" ] || continue
    runuser -u "$user" -- runc --root "$state" delete --force "${c##*/}" >/dev/null 2>&1
  done
fi

/bin/bash "$(dirname "$0")/image.sh" release "$root/.pai-images" "$job" "$node"
exit 0
