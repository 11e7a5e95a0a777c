#!/usr/bin/env bash
# Starts the AWS side of the test environment, all on 127.0.0.1, and prints `export` lines for
# the tests (eval them). Stop everything with: tests/env/aws-env.sh stop
#   - moto server (pinned, in a venv cached by the requirements' hash): the AWS control plane;
#   - Debian's docker-registry with a temp storage dir: where the tool pushes (AWS_APP_REGISTRY);
#   - tests/env/dataplane.py: runs each service's current task definition image in Docker and
#     answers HTTP_PROXY requests for the load balancers' DNS names (a local "Fargate").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
env_dir=$PWD

log() { echo "env/aws: $*" >&2; }
state=/var/tmp/aws-app-test-env
mkdir -p "$state"

stop() {
  for name in dataplane registry moto; do
    if [ -f "$state/$name.pid" ]; then kill "$(cat "$state/$name.pid")" 2>/dev/null || true; rm -f "$state/$name.pid"; fi
  done
}
if [ "${1:-start}" = stop ]; then stop; exit 0; fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_http() { # url what
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  log "$2 did not answer at $1"; return 1
}

# --- moto, in a venv cached by its pins ------------------------------------------------------
hash=$(sha256sum moto-requirements.txt | cut -c1-12)
venv=/var/cache/aws-app/moto-venv-$hash
if [ ! -x "$venv/bin/moto_server" ]; then
  log "installing moto into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r moto-requirements.txt
fi
stop
moto_port=$(free_port)
MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_ECS_SERVICE_RUNNING=1 \
  setsid "$venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$state/moto.log" 2>&1 < /dev/null &
echo $! > "$state/moto.pid"
wait_http "http://127.0.0.1:$moto_port/moto-api/" moto

# --- registry ------------------------------------------------------------------------------------
if ! command -v docker-registry >/dev/null 2>&1; then
  log "installing docker-registry"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
fi
registry_port=$(free_port)
rm -rf "$state/registry"; mkdir -p "$state/registry/data"
cat > "$state/registry/config.yml" <<YAML
version: 0.1
log: {level: warn, fields: {service: registry}}
storage: {filesystem: {rootdirectory: $state/registry/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$registry_port, secret: aws-app-tests}
YAML
setsid docker-registry serve "$state/registry/config.yml" >"$state/registry.log" 2>&1 < /dev/null &
echo $! > "$state/registry.pid"
wait_http "http://127.0.0.1:$registry_port/v2/" registry

# --- data plane + proxy -----------------------------------------------------------------------------
proxy_port=$(free_port)
AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_DEFAULT_REGION=us-east-1 setsid "$venv/bin/python" "$env_dir/dataplane.py" "$proxy_port" \
  >"$state/dataplane.log" 2>&1 < /dev/null &
echo $! > "$state/dataplane.pid"
wait_http "http://127.0.0.1:$proxy_port/-/ready" "data plane"

log "moto :$moto_port, registry :$registry_port, data plane proxy :$proxy_port (logs in $state)"
cat <<ENV
export AWS_APP_TEST_MOTO=http://127.0.0.1:$moto_port
export AWS_APP_TEST_REGISTRY=127.0.0.1:$registry_port
export AWS_APP_TEST_PROXY=http://127.0.0.1:$proxy_port
export AWS_APP_TEST_MOTO_LOG=$state/moto.log
ENV
