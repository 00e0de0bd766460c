#!/bin/sh
# mod_pairest's Slurm epilog (run as root by slurmd when a job ends on a node):
# ends what a job's containers left behind, lets go of its image, and
# removes task logs past their retention.
#   epilog.sh ROOT [RETENTION_DAYS]
# A task's container sits in a cgroup of its own below the step's (rootless
# runc makes it), where Slurm's signals do not reach: the task wrapper kills
# it on TERM, but a wrapper killed outright (SIGKILL), or one whose TERM trap
# failed, cannot.  Every process still in the job's cgroups here is killed,
# the emptied folders removed, and runc's record of the container deleted.
root=${1:?usage: epilog.sh ROOT [RETENTION_DAYS]}
days=${2:-0}
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

# Task logs past PaiLogRetention (RETENTION_DAYS; 0 keeps them): an attempt's
# folder whose end mark (.pai-ended, the batch script's last act) is older
# goes, and then a deleted job's folder that no attempt is left in.  Removed
# as the folder's account, never as root: root walking a tree an account
# controls could be led elsewhere by a link swapped in meanwhile.  At most
# once an hour (root's mark in ROOT), on whichever node's epilog comes first.
pai_prune_logs() {
  case "$days" in ''|0|*[!0-9]*) return 0 ;; esac
  mark=$root/.pai-pruned
  [ -n "$(find "$mark" -maxdepth 0 -mmin -60 2>/dev/null)" ] && return 0
  touch "$mark" || return 0
  for acct in "$root"/*; do
    if [ ! -d "$acct" ] || [ -L "$acct" ]; then continue; fi
    # The account's own group, not the folder's (the server's, which reads
    # every account's logs).
    auid=$(stat -c %u "$acct")
    case "$auid" in ''|0|*[!0-9]*) continue ;; esac
    agid=$(getent passwd "$auid" | cut -d: -f4)
    case "$agid" in ''|0|*[!0-9]*) continue ;; esac
    # shellcheck disable=SC2016  # $1 is the inner shell's: the path find found
    find "$acct" -mindepth 3 -maxdepth 3 -type f -name .pai-ended \
      -path "$acct/*/attempt-*/.pai-ended" -mmin +$((days * 1440)) \
      -exec setpriv --reuid="$auid" --regid="$agid" --clear-groups -- \
        sh -c 'rm -rf -- "${1%/.pai-ended}"' sh {} \;
    # shellcheck disable=SC2016  # as above
    find "$acct" -mindepth 1 -maxdepth 1 -type d -name '*@deleted-*' \
      -exec setpriv --reuid="$auid" --regid="$agid" --clear-groups -- \
        sh -c 'for a in "$1"/attempt-*; do [ -e "$a" ] && exit 0; done; rm -rf -- "$1"' sh {} \;
  done
}
pai_prune_logs
exit 0
