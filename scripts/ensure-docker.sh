#!/usr/bin/env bash
# Makes sure a Docker engine answers `docker info`. Idempotent; used by `make test` and `make run`.
#
#   scripts/ensure-docker.sh
#
# - engine answers: exits 0 at once;
# - dockerd or the docker CLI missing: installs docker.io with apt-get (Debian/Ubuntu, as root or
#   with sudo);
# - no engine running: starts dockerd in the background, detached (no systemd needed, as in CI
#   containers), logging to .smemu/dockerd.log, and waits up to SMEMU_DOCKER_WAIT seconds (60).
#
# Environment:
#   SMEMU_DOCKER_STORAGE_DRIVER  passed as --storage-driver (default: dockerd's choice, overlay2
#                                where the kernel and filesystem allow it, else vfs)
#   SMEMU_DOCKERD_ARGS           extra dockerd arguments
#   SMEMU_DOCKER_WAIT            seconds to wait for the engine (60)
#   SMEMU_DOCKER_PIDFILE         where dockerd writes its pid (/var/run/docker.pid; set it with a
#                                matching --pidfile in SMEMU_DOCKERD_ARGS to run a second engine)
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
log_dir="$repo/.smemu"
log="${SMEMU_DOCKER_LOG:-$log_dir/dockerd.log}"
wait_seconds="${SMEMU_DOCKER_WAIT:-60}"
pidfile="${SMEMU_DOCKER_PIDFILE:-/var/run/docker.pid}"

answers() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && answers; then exit 0; fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

mkdir -p "$log_dir"
# Parallel callers (several test binaries, make -j) must not start two daemons.
exec 9>"$log_dir/ensure-docker.lock"
flock -w $((wait_seconds + 600)) 9 || { echo "ensure-docker: another run holds $log_dir/ensure-docker.lock" >&2; exit 1; }
if command -v docker >/dev/null 2>&1 && answers; then exit 0; fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  echo "ensure-docker: installing docker.io with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io >/dev/null
fi

# A daemon that is already starting (its pid file names a live process) is waited for, not doubled.
running_pid() {
  local pid
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then echo "$pid"; fi
}

# Waits for the engine while the daemon `$1` lives; returns 0 once `docker info` answers.
wait_for() {
  local pid="$1" deadline=$((SECONDS + wait_seconds))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if answers; then return 0; fi
    if [ ! -d "/proc/$pid" ]; then return 1; fi
    sleep 0.5
  done
  return 1
}

start_dockerd() {
  local args=("$@")
  if [ -n "${SMEMU_DOCKER_STORAGE_DRIVER:-}" ]; then args+=(--storage-driver "$SMEMU_DOCKER_STORAGE_DRIVER"); fi
  # shellcheck disable=SC2206 # word splitting of the extra arguments is intended
  if [ -n "${SMEMU_DOCKERD_ARGS:-}" ]; then args+=($SMEMU_DOCKERD_ARGS); fi
  echo "ensure-docker: starting dockerd ${args[*]} (log: $log)" >&2
  # setsid + nohup: the daemon outlives this script and whatever called it (make, a test run);
  # 9>&-: it must not inherit (and hold forever) the lock.
  $SUDO setsid nohup dockerd "${args[@]}" >>"$log" 2>&1 </dev/null 9>&- &
  echo $!
}

pid="$(running_pid)"
if [ -n "$pid" ]; then
  echo "ensure-docker: dockerd (pid $pid) is running; waiting for it to answer"
else
  pid="$(start_dockerd)"
fi
if ! wait_for "$pid" && [ ! -d "/proc/$pid" ] && tail -n 30 "$log" | grep -qi iptables; then
  # Some CI containers lack the iptables/NAT support dockerd sets up by default. Published ports
  # still work without it (docker-proxy binds them on 127.0.0.1), which is all smemu uses.
  echo "ensure-docker: dockerd failed on iptables; retrying with --iptables=false"
  pid="$(start_dockerd --iptables=false --ip6tables=false)"
  wait_for "$pid" || true
fi

if ! answers; then
  if [ -d "/proc/$pid" ]; then
    echo "ensure-docker: dockerd (pid $pid) did not answer within ${wait_seconds} s; last lines of $log:" >&2
  else
    echo "ensure-docker: dockerd exited without answering; last lines of $log:" >&2
  fi
  tail -n 20 "$log" >&2 || true
  exit 1
fi
echo "ensure-docker: engine $(docker version --format '{{.Server.Version}}') answers" \
  "(storage driver $(docker info --format '{{.Driver}}'))"
