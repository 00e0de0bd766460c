#!/bin/sh
# mod_pairest's Slurm prolog (run as root by slurmd before a job's first step on
# a node): makes the job account's own folder under the job folder root,
#   ROOT/<account>   owned by the account, mode 0700, or with READER (the
#                    server's group, which serves the task logs) its group
#                    and mode 2750 (the group reads what the jobs share with it),
# in which the batch script makes its attempt folders.  ROOT itself belongs to
# root (mode 0755), so no account can make, replace or link another's folder.
# For a job that runs in containers (its Slurm comment names an image), it
# then pulls the image into the node's cache (scripts/job/image.sh).
#   prolog.sh ROOT HOLD_DIR [CACHE MAX_MB INSECURE MIRRORS GPU_DEVICE READER]
# HOLD_DIR, tests only ('' otherwise): while HOLD_DIR/hold exists the job waits
# here (and says so in HOLD_DIR/held.JOBID), so a test can act between start
# and steps.  CACHE, MAX_MB, INSECURE, MIRRORS: the node's image cache (image.sh);
# GPU_DEVICE: the device file of this node's GPU %i (%n: the node's name).
# A failing prolog drains the node: problems are logged and left to the batch
# script, which refuses a folder that is not its own (exit 70), and to the
# tasks, which read the image's marker.
root=${1:?usage: prolog.sh ROOT HOLD_DIR [CACHE MAX_MB INSECURE MIRRORS GPU_DEVICE]}
hold=${2:-}
cache=${3:-}
cache_mb=${4:-10240}
insecure=${5:-}
mirrors=${6:-}
gpu_device=${7:-/dev/nvidia%i}
reader=${8:-}
here=$(dirname "$0")
user=${SLURM_JOB_USER:-}
uid=${SLURM_JOB_UID:-}
gid=${SLURM_JOB_GID:-}
node=${SLURMD_NODENAME:-$(hostname)}

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
  if [ -n "$reader" ] && getent group "$reader" >/dev/null; then
    chown "$uid:$reader" "$d" && chmod 2750 "$d"
  else
    chown "$uid:$gid" "$d" && chmod 700 "$d"
  fi
}
pai_account_dir

# The image, from the job's comment (pai:…;image=REF[;auth=PATH];mounts=A,B):
# the module checked every character of it; image.sh checks again what it uses.
pai_image() {
  [ -n "$cache" ] && [ -n "${SLURM_JOB_ID:-}" ] || return 0
  case "$user" in ''|*/*|-*) return 0 ;; esac
  # slurmctld just launched the job; a moment's hiccup is asked again.
  comment='' i=0
  while [ $i -lt 3 ]; do
    comment=$(squeue -h -j "$SLURM_JOB_ID" -o '%k' 2>/dev/null) && break
    i=$((i + 1)); sleep 2
  done
  case "$comment" in pai:*\;image=*) ;; *) return 0 ;; esac
  image='' auth='' mounts=''
  old_ifs=$IFS
  IFS=';'
  for part in $comment; do
    case "$part" in
      image=*) image=${part#image=} ;;
      auth=*) auth=${part#auth=} ;;
      mounts=*) mounts=${part#mounts=} ;;
    esac
  done
  IFS=,
  # shellcheck disable=SC2086  # split at the commas on purpose
  set -- $mounts
  IFS=$old_ifs
  markers=$root/.pai-images
  /bin/bash "$here/image.sh" pull "$cache" "$cache_mb" "$insecure" "$mirrors" "$markers" \
    "$SLURM_JOB_ID" "$node" "$image" "$auth" "$user" "$@"
  if [ -f "$markers/$SLURM_JOB_ID.$node" ]; then
    dev=$(printf '%s' "$gpu_device" | sed "s|%n|$node|g")
    echo "gpu $dev" >> "$markers/$SLURM_JOB_ID.$node"
  fi
}
pai_image

if [ -n "$hold" ] && [ -e "$hold/hold" ]; then
  touch "$hold/held.${SLURM_JOB_ID:-0}"
  i=0
  while [ -e "$hold/hold" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
fi
exit 0
