#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it). On a fresh Debian machine, as root, it installs
# and starts what the tests need, then runs the whole suite:
#   - a Docker engine (Debian's docker.io, dockerd started in the background),
#   - the base image for app builds (debootstrap; cached by tag, so a second run is fast),
#   - the C headers the crate builds against (OpenSSL for libgit2's https),
#   - the AWS side on loopback: moto (pinned, in a cached venv), Debian's docker-registry, and the
#     test-only data plane (tests/env/aws-env.sh), stopped again when the tests end.
# Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "tests/run.sh: $*" >&2; }

need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { log "cargo is missing: install Rust (https://rustup.rs)"; exit 2; }

tests/env/docker.sh
AWS_APP_TEST_BASE_IMAGE=$(tests/env/base-image.sh)
export AWS_APP_TEST_BASE_IMAGE
log "base image $AWS_APP_TEST_BASE_IMAGE"

eval "$(tests/env/aws-env.sh start)"
trap 'tests/env/aws-env.sh stop' EXIT

cargo test --locked "$@"
