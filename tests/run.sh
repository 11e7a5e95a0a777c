#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it). On a fresh Debian machine, as root, it installs
# and starts what the tests need, then runs the whole suite:
#   - two Docker engines: the one users run (Debian trixie's docker.io 26 with containerd and the
#     containerd image store, refusing API below 1.44: tests/env/docker26.sh), which the whole
#     suite runs on; and bookworm's docker.io 20.10 (graph-driver store: tests/env/docker.sh),
#     on which every Docker-facing test runs again, and which the cross-engine tests use too;
#   - the base image for app builds in each engine (debootstrap once; the same bytes imported);
#   - the C headers the crate builds against (OpenSSL for libgit2's https);
#   - the AWS side on loopback: moto (pinned, in a cached venv), Debian's docker-registry, and the
#     test-only data plane (tests/env/aws-env.sh), stopped again when the tests end.
# Extra arguments go to `cargo test` (e.g. a test name filter); with them, only the main run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "tests/run.sh: $*" >&2; }
# The engines are chosen below, never by the caller's environment.
unset DOCKER_HOST DOCKER_CONTEXT

need=()
command -v git >/dev/null 2>&1 || need+=(git)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v xz >/dev/null 2>&1 || need+=(xz-utils)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
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

# The engines: the graph-driver one first (it sets up the host's iptables chains), then the
# containerd one beside it. The tests read Docker's state with the containerd engine's CLI.
tests/env/docker.sh
compat_host=unix:///var/run/docker.sock
main_host=$(tests/env/docker26.sh)
cli=$(dirname "$(ls -d /var/cache/aws-app/engines/trixie-*/usr/bin/docker | grep -v '\.part/' | tail -n1)")
export PATH="$cli:$PATH"
export AWS_APP_TEST_DOCKER_MAIN=$main_host AWS_APP_TEST_DOCKER_COMPAT=$compat_host
AWS_APP_TEST_BASE_IMAGE=$(DOCKER_HOST=$main_host tests/env/base-image.sh)
[ "$(DOCKER_HOST=$compat_host tests/env/base-image.sh)" = "$AWS_APP_TEST_BASE_IMAGE" ]
export AWS_APP_TEST_BASE_IMAGE
# The same bytes in both: the same layer (else the cross-engine tests would compare two bases).
layers() { DOCKER_HOST=$1 docker image inspect --format '{{json .RootFS.Layers}}' "$AWS_APP_TEST_BASE_IMAGE"; }
[ "$(layers "$main_host")" = "$(layers "$compat_host")" ] || {
  log "the base image differs between the engines; remove $AWS_APP_TEST_BASE_IMAGE from both and run again"
  exit 1
}
log "base image $AWS_APP_TEST_BASE_IMAGE in both engines"

# The data plane (the test's "Fargate") runs its containers on the main engine.
eval "$(DOCKER_HOST=$main_host tests/env/aws-env.sh start)"
trap 'tests/env/aws-env.sh stop' EXIT

log "the whole suite on $(DOCKER_HOST=$main_host docker version --format 'Docker {{.Server.Version}}, API {{.Server.APIVersion}} (min {{.Server.MinAPIVersion}})'), containerd image store"
DOCKER_HOST=$main_host cargo test --locked "$@"
# The test environment's own logic: the strict layer's protocol engine (against botocore's
# serializers and parsers) and the ECR lifecycle evaluation.
"$AWS_APP_TEST_PYTHON" -m unittest discover -s tests/env/strict -p 'test_*.py' 2>&1 | tail -n 3
"$AWS_APP_TEST_PYTHON" -m unittest discover -s tests/env -p 'test_ecr_lifecycle.py' 2>&1 | tail -n 3
# No request of the tool may have broken AWS's documented constraints (tests that send one on
# purpose mark it): the strict layer kept every refusal.
violations=$(curl -sf "$AWS_APP_TEST_MOTO/-/violations")
if [ "$violations" != "[]" ]; then
  log "the strict layer refused requests real AWS would refuse: $violations"
  exit 1
fi
if (($# == 0)); then
  log "the Docker-facing tests on $(DOCKER_HOST=$compat_host docker version --format 'Docker {{.Server.Version}}, API {{.Server.APIVersion}}'), graph-driver store"
  DOCKER_HOST=$compat_host cargo test --locked --test integration -- \
    local_build:: source::builds_the_branch_head_fetched_over_http \
    deploy::deploy_serves_the_app dependencies::a_code_only_commit \
    dependencies::a_commit_made_today_redeploys
fi
