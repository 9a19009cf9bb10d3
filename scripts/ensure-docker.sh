#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs docker.io when dockerd is missing (Debian, as root) and
# starts dockerd in the background when none runs. Idempotent; used by `make test` and `make run`.
set -euo pipefail
if docker info >/dev/null 2>&1; then exit 0; fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "ensure-docker: installing docker.io"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log_dir="$(cd "$(dirname "$0")/.." && pwd)/.smemu"
  mkdir -p "$log_dir"
  echo "ensure-docker: starting dockerd (log: $log_dir/dockerd.log)"
  # No systemd here: run the daemon in the background, detached from this shell.
  $SUDO nohup dockerd >"$log_dir/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 120); do
    if docker info >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
fi

if ! docker info >/dev/null 2>&1; then
  echo "ensure-docker: the Docker engine did not come up; last lines of its log:" >&2
  tail -n 20 "$(dirname "$0")/../.smemu/dockerd.log" >&2 || true
  exit 1
fi
echo "ensure-docker: engine $(docker version --format '{{.Server.Version}}') answers"
