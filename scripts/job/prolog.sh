#!/bin/sh
# mod_pairest's Slurm prolog (run as root by slurmd before a job's first step on
# a node): makes the job account's own folder under the job folder root,
#   ROOT/<account>   owned by the account, mode 0700,
# in which the batch script makes its attempt folders.  ROOT itself belongs to
# root (mode 0755), so no account can make, replace or link another's folder.
#   prolog.sh ROOT [HOLD_DIR]
# HOLD_DIR, tests only: while HOLD_DIR/hold exists the job waits here (and
# says so in HOLD_DIR/held.JOBID), so a test can act between start and steps.
# A failing prolog drains the node: problems are logged and left to the batch
# script, which refuses a folder that is not its own (exit 70).
root=${1:?usage: prolog.sh ROOT [HOLD_DIR]}
hold=${2:-}
user=${SLURM_JOB_USER:-}
uid=${SLURM_JOB_UID:-}
gid=${SLURM_JOB_GID:-}

pai_account_dir() {
  case "$user" in ''|.|..|*/*|-*) echo "prolog: bad account name '$user'" >&2; return 0 ;; esac
  if [ -z "$uid" ] || [ "$uid" = 0 ]; then echo "prolog: job ${SLURM_JOB_ID:-} runs as uid 0" >&2; return 0; fi
  [ -n "$gid" ] || gid=$(id -g "$user" 2>/dev/null) || return 0
  # Only a root that no one else can write keeps others' folders out.
  if [ "$(stat -c %u "$root" 2>/dev/null)" != 0 ] || [ -L "$root" ] ||
     [ $(( $(stat -c '0%a' "$root") & 022 )) -ne 0 ]; then
    echo "prolog: $root must belong to root and be writable by root alone" >&2
    return 0
  fi
  d=$root/$user
  # Something not made here for this account (an older layout) is moved aside.
  if [ -L "$d" ] || { [ -e "$d" ] && { [ ! -d "$d" ] || [ "$(stat -c %u "$d")" != "$uid" ]; }; }; then
    mv "$d" "$root/.aside-$user-$(date +%s)-$$" || return 0
  fi
  [ -d "$d" ] || mkdir -m 700 "$d" || return 0
  chown "$uid:$gid" "$d" && chmod 700 "$d"
}
pai_account_dir

if [ -n "$hold" ] && [ -e "$hold/hold" ]; then
  touch "$hold/held.${SLURM_JOB_ID:-0}"
  i=0
  while [ -e "$hold/hold" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
fi
exit 0
