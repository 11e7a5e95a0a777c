#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine: installs Debian's docker.io when there is
# no engine, starts dockerd in the background when none runs, and waits for /_ping.
# Idempotent; prints one line per action to stderr. Needs root on a machine without Docker.
set -euo pipefail

log() { echo "env/docker: $*" >&2; }

ping_ok() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

if ping_ok; then
  log "engine answers ($(docker version --format '{{.Server.Version}}'))"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io >/dev/null
fi

if ! ping_ok; then
  log "starting dockerd (log: /var/log/aws-app-dockerd.log)"
  # setsid: the engine must outlive the shell that starts it (tests run after this script).
  setsid dockerd >/var/log/aws-app-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    ping_ok && break
    sleep 1
  done
fi

ping_ok || { log "dockerd did not answer within 60 s; see /var/log/aws-app-dockerd.log"; exit 1; }
log "engine answers ($(docker version --format '{{.Server.Version}}'))"
