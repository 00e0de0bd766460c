#!/bin/bash
# mod_pairest's image cache on a node (run as root by Slurm's prolog, then by
# its epilog): pulls a job's image once per node into a bundle every account
# may read and none may change, and says which in a marker the job's tasks read.
#   image.sh pull CACHE MAX_MB INSECURE MIRRORS MARKERS JOBID NODE REF AUTHFILE USER [MOUNT...]
#   image.sh release MARKERS JOBID NODE
# CACHE: the node's cache (root's, 0755): bundles/<digest>/rootfs, tmp/, locks/;
#   MAX_MB: its size bound (least recently used bundles that no job holds go
#   first); INSECURE: comma list of registries (host:port, * allowed) spoken to
#   over plain HTTP; MIRRORS: comma list of FROM=TO registries: an image of
#   FROM is pulled from TO (a site's mirror, or a registry the nodes reach at
#   another address); a FROM without a port is a host, whatever the port, and
#   the port is kept; MARKERS: root's folder of markers, one per job and node,
#   MARKERS/JOBID.NODE, which the job's tasks read:
#     ok <bundle folder>        |  failed <why>
#   why: notfound auth authfile unreachable pull unpack (the launcher words it);
#   REF: canonical reference (registry/name:tag or registry/name@sha256:…, made
#   by the module); AUTHFILE: '' or a file of the job's account with registry
#   credentials (read as that account, never as root); MOUNT: host folders the
#   tasks bind at the same path (the job folder root, dataDir, …): the image's
#   root is read-only to the tasks, so root makes their mount points in the
#   bundle (empty folders; never through a link of the image).
# A failed pull never fails the prolog (that would drain the node): the tasks
# read the marker and end the job FAILED with the reason.
set -u
umask 022

cache_release() {
  local markers=$1 job=$2 node=$3
  case "$job$node" in */*|'') return 0 ;; esac
  rm -f "$markers/$job.$node"
}

# The why of a failed skopeo, from its message (never the message itself: it
# may hold what the registry said back, and it goes into Slurm's job comment).
pull_why() {
  case "$1" in
    *"manifest unknown"*|*"name unknown"*|*"not found"*|*"NAME_UNKNOWN"*|*"MANIFEST_UNKNOWN"*)
      echo notfound ;;
    *unauthorized*|*"authentication required"*|*denied*|*"invalid username/password"*)
      echo auth ;;
    *"connection refused"*|*"no such host"*|*"i/o timeout"*|*"dial tcp"*|*"network is unreachable"*|*"server gave HTTP response to HTTPS"*)
      echo unreachable ;;
    *) echo pull ;;
  esac
}

# The job's credentials: a docker/containers auth.json, or OpenPAI's three
# lines (registry, user, password), read as the job's account and turned into
# an auth.json only root may read, removed after the pull.
auth_file() {
  local user=$1 src=$2 out=$3 text server name pass
  # Bounded in size and time: a FIFO or a device the job names blocks nothing.
  text=$(timeout 10 setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- \
         head -c 65536 -- "$src" 2>/dev/null) || return 1
  [ -n "$text" ] || return 1
  if [ "${text:0:1}" = "{" ]; then
    printf '%s' "$text" | jq -e 'type == "object"' >/dev/null 2>&1 || return 1
    printf '%s' "$text" > "$out"
    return 0
  fi
  { read -r server; read -r name; read -r pass; } <<<"$text"
  [ -n "$server" ] && [ -n "$name" ] || return 1
  server=${server#http://}; server=${server#https://}; server=${server%%/*}
  jq -n --arg s "$server" --arg a "$(printf '%s:%s' "$name" "$pass" | base64 -w0)" \
    '{auths: {($s): {auth: $a}}}' > "$out"
}

insecure() {
  local registry=$1 list=$2 pat
  local IFS=,
  for pat in $list; do
    # shellcheck disable=SC2053  # the pattern is a glob on purpose
    [ -n "$pat" ] && [[ $registry == $pat ]] && return 0
  done
  return 1
}

# An empty folder (or file) at PATH in ROOTFS, made component by component:
# a link of the image is never followed (it could point anywhere on the node).
mount_point() {
  local rootfs=$1 path=$2 kind=${3:-dir} p='' c rest
  case "$path" in /*) ;; *) return 1 ;; esac
  case "/$path/" in */../*|*/./*) return 1 ;; esac
  rest=${path#/}
  while [ -n "$rest" ]; do
    c=${rest%%/*}
    [ "$c" = "$rest" ] && rest='' || rest=${rest#*/}
    [ -n "$c" ] || continue
    p=$p/$c
    [ -L "$rootfs$p" ] && return 1
    if [ -z "$rest" ] && [ "$kind" = file ]; then
      [ -e "$rootfs$p" ] || : > "$rootfs$p" || return 1
    else
      [ -d "$rootfs$p" ] || mkdir -m 755 "$rootfs$p" || return 1
    fi
  done
}

# Least recently used bundles no job holds go until the cache fits MAX_MB.
evict() {
  local cache=$1 max_mb=$2 markers=$3 used d held
  exec 8>"$cache/.evict.lock"
  flock -n 8 || return 0
  used=$(du -sm "$cache/bundles" 2>/dev/null | awk '{print $1}')
  while [ "${used:-0}" -gt "$max_mb" ]; do
    d=$(find "$cache/bundles" -mindepth 1 -maxdepth 1 -type d -name 'sha256_*' \
          -printf '%T@ %p\n' 2>/dev/null | sort -n | while read -r _ b; do
          held=$(grep -lsx "ok $b" "$markers"/* | head -n 1)
          [ -z "$held" ] && { echo "$b"; break; }
        done)
    [ -n "$d" ] || break
    echo "image: cache above ${max_mb} MB, removing ${d##*/}" >&2
    mv "$d" "$cache/tmp/gone.$$" && rm -rf "$cache/tmp/gone.$$"
    used=$(du -sm "$cache/bundles" 2>/dev/null | awk '{print $1}')
  done
}

cache_pull() {
  local cache=$1 max_mb=$2 insecure_list=$3 mirrors=$4 markers=$5 job=$6 node=$7 ref=$8
  local auth=$9 user=${10}
  shift 10
  local registry=${ref%%/*} tls=true a=() digest bundle tmp why name marker m pair from=$ref
  case "$job$node" in */*|'') return 0 ;; esac
  # Root's folders alone: no account can plant a link where root writes.
  mkdir -p "$cache/bundles" "$cache/tmp" "$cache/locks" "$markers"
  chown root:root "$cache" "$markers"
  chmod 755 "$cache" "$cache/bundles" "$markers"; chmod 700 "$cache/tmp" "$cache/locks"
  marker=$markers/$job.$node
  rm -f "$marker"
  # Where the image comes from: its registry, or that registry's mirror.
  local host=${registry%%:*} port='' to=''
  [ "$host" != "$registry" ] && port=:${registry#*:}
  for pair in ${mirrors//,/ }; do
    case "$pair" in *=?*) ;; *) continue ;; esac
    if [ "${pair%%=*}" = "$registry" ]; then to=${pair#*=}; break; fi
    case "${pair%%=*}" in *:*) ;; "$host") to=${pair#*=}$port; break ;; esac
  done
  if [ -n "$to" ]; then
    registry=$to
    from=$registry/${ref#*/}
  fi
  insecure "$registry" "$insecure_list" && tls=false
  tmp=$(mktemp -d "$cache/tmp/pull.XXXXXX") || { echo "failed unpack" > "$marker"; return; }
  # shellcheck disable=SC2064  # tmp is fixed now
  trap "rm -rf '$tmp'" EXIT
  if [ -n "$auth" ]; then
    if ! auth_file "$user" "$auth" "$tmp/auth.json"; then
      echo "failed authfile" > "$marker"; return
    fi
    chmod 600 "$tmp/auth.json"
    a=(--authfile "$tmp/auth.json")
  fi
  # One puller per reference; the others wait and find the bundle made.
  exec 9>"$cache/locks/$(printf '%s' "$ref" | sha256sum | cut -c1-32)"
  flock 9
  # The digest: the reference's own, or the registry's answer for the tag now
  # (one manifest request); a bundle of that digest is the image.
  case "$ref" in
    *@sha256:*) digest=${ref##*@} ;;
    *)
      if ! timeout 120 skopeo inspect --raw --tls-verify="$tls" "${a[@]}" \
           "docker://$from" >"$tmp/manifest" 2>"$tmp/err"; then
        why=$(pull_why "$(cat "$tmp/err")")
        echo "image: $ref: $(tail -n 1 "$tmp/err")" >&2
        echo "failed $why" > "$marker"; return
      fi
      # Of the bytes as sent (a shell variable would drop a last newline).
      digest=sha256:$(sha256sum < "$tmp/manifest" | cut -d ' ' -f 1) ;;
  esac
  case "$digest" in sha256:[0-9a-f]*) ;; *) echo "failed pull" > "$marker"; return ;; esac
  bundle=$cache/bundles/${digest/:/_}
  if [ ! -d "$bundle/rootfs" ]; then
    # By digest: what was checked is what comes (skopeo verifies it).  The
    # module's references always carry a tag or a digest, last.
    case "$from" in *@*) name=${from%@*} ;; *) name=${from%:*} ;; esac
    if ! timeout 900 skopeo copy --quiet --src-tls-verify="$tls" "${a[@]}" \
         "docker://$name@$digest" "oci:$tmp/layout:img" 2>"$tmp/err"; then
      why=$(pull_why "$(cat "$tmp/err")")
      echo "image: $ref: $(tail -n 1 "$tmp/err")" >&2
      echo "failed $why" > "$marker"; return
    fi
    if ! umoci unpack --image "$tmp/layout:img" "$tmp/bundle" >/dev/null 2>"$tmp/err"; then
      echo "image: $ref: unpack: $(tail -n 1 "$tmp/err")" >&2
      echo "failed unpack" > "$marker"; return
    fi
    chmod 755 "$tmp/bundle"
    # What every container mounts, whatever the image has.
    for m in /etc/hosts /etc/resolv.conf; do mount_point "$tmp/bundle/rootfs" "$m" file; done
    for m in /proc /sys /dev /tmp /root; do mount_point "$tmp/bundle/rootfs" "$m"; done
    mv -T "$tmp/bundle" "$bundle" 2>/dev/null || [ -d "$bundle/rootfs" ] ||
      { echo "failed unpack" > "$marker"; return; }
    echo "image: pulled $ref ($digest)" >&2
  fi
  touch "$bundle"
  # The module sends the job folder root and at most three folders; a comment
  # written by hand gets no more.
  [ $# -le 4 ] || set -- "${@:1:4}"
  for m in "$@"; do
    mount_point "$bundle/rootfs" "$m" || echo "image: no mount point for $m in $ref" >&2
  done
  echo "ok $bundle" > "$marker"
  flock -u 9
  evict "$cache" "$max_mb" "$markers"
}

case "${1:-}" in
  pull) shift; cache_pull "$@" ;;
  release) shift; cache_release "$@" ;;
  *) echo "usage: image.sh pull|release ..." >&2; exit 2 ;;
esac
exit 0
