#!/usr/bin/env bash
# The project's own container image and registry, made offline from Debian's
# mirror alone: the image `make run` and the tests run jobs in.
#   image.sh build DIR                 an OCI layout DIR/layout (tag pai-test): Debian 12
#                                      minbase with bash, python3 and a marker file,
#                                      /etc/pai-test-image, that the host does not have
#   image.sh registry-start DIR ADDR [USER PASSWORD_FILE]
#                                      Debian's docker-registry on ADDR (host:port),
#                                      storage in DIR; with USER, htpasswd auth (the
#                                      password read from a file: never an argument)
#   image.sh registry-stop DIR
#   image.sh push DIR REF [AUTHFILE]   the built image to REF (plain HTTP registry)
set -euo pipefail
cmd=${1:?usage: image.sh build|registry-start|registry-stop|push ...}
# The layout is rebuilt only when this recipe changes.
recipe=pai-test-1

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

build() {
  local dir; dir=$(mkdir -p "$1" && cd "$1" && pwd)
  if [ "$(cat "$dir/layout.recipe" 2>/dev/null)" = "$recipe" ] && [ -s "$dir/layout/index.json" ]; then
    return 0
  fi
  local work=$dir/work
  rm -rf "$work" "$dir/layout" "$dir/layout.recipe"
  mkdir -p "$work"
  local mirror
  mirror=$(sed -n 's/^URIs: *//p; s/^deb \(\[[^]]*\] \)\{0,1\}\(http[^ ]*\) .*/\2/p' \
           /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null | head -n 1 || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  echo "image.sh: building the test image from $mirror (about a minute)"
  # The marker tells a task in the image from one on the host.
  # shellcheck disable=SC2016  # $1 is mmdebstrap's, expanded in its hook
  mmdebstrap --quiet --variant=minbase --include=python3-minimal,hostname,procps \
      --customize-hook='echo "mod_pairest test image" > "$1/etc/pai-test-image"' \
      bookworm "$work/rootfs.tar" "$mirror"
  # umoci as root keeps the files' owners; the config comes after the
  # repack (repack rebuilds from the manifest the bundle came from).
  umoci init --layout "$work/layout"
  umoci new --image "$work/layout:pai-test"
  umoci unpack --image "$work/layout:pai-test" "$work/bundle"
  tar -C "$work/bundle/rootfs" -xf "$work/rootfs.tar"
  umoci repack --image "$work/layout:pai-test" "$work/bundle"
  umoci config --image "$work/layout:pai-test" --config.cmd=/bin/bash \
      --config.env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  umoci gc --layout "$work/layout"
  chmod -R a+rX "$work/layout"
  mv "$work/layout" "$dir/layout"
  rm -rf "$work"
  echo "$recipe" > "$dir/layout.recipe"
}

registry_start() {
  local dir; dir=$(mkdir -p "$1" && cd "$1" && pwd)
  local addr=${2:?address} user=${3:-} passfile=${4:-}
  alive "$dir/registry.pid" && return 0
  mkdir -p "$dir/storage"
  {
    echo "version: 0.1"
    echo "log: {level: info, accesslog: {disabled: false}}"
    echo "storage: {filesystem: {rootdirectory: $dir/storage}, delete: {enabled: true}}"
    echo "http: {addr: \"$addr\"}"
    if [ -n "$user" ]; then
      echo "auth: {htpasswd: {realm: pai-test, path: $dir/htpasswd}}"
    fi
  } > "$dir/config.yml"
  if [ -n "$user" ]; then
    (umask 077; htpasswd -iBn "$user" < "${passfile:?password file}" > "$dir/htpasswd")
  fi
  setsid docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 </dev/null &
  echo $! > "$dir/registry.pid"
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://$addr/v2/" && return 0
    alive "$dir/registry.pid" || break
    sleep 0.1
  done
  echo "image.sh: the registry did not start; see $dir/registry.log" >&2
  exit 1
}

registry_stop() {
  local dir=${1:?folder} pid
  alive "$dir/registry.pid" || { rm -f "$dir/registry.pid"; return 0; }
  pid=$(cat "$dir/registry.pid")
  kill -TERM "$pid"
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$dir/registry.pid"
}

push() {
  local dir=${1:?folder} ref=${2:?reference} auth=${3:-} a=()
  [ -n "$auth" ] && a=(--dest-authfile "$auth")
  skopeo copy --quiet --dest-tls-verify=false "${a[@]}" "oci:$dir/layout:pai-test" "docker://$ref"
}

case "$cmd" in
  build) build "${2:?folder}" ;;
  registry-start) shift; registry_start "$@" ;;
  registry-stop) registry_stop "${2:-}" ;;
  push) shift; push "$@" ;;
  *) echo "usage: image.sh build|registry-start|registry-stop|push ..." >&2; exit 2 ;;
esac
