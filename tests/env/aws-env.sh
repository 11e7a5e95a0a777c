#!/usr/bin/env bash
# Starts the AWS side of the test environment, all on 127.0.0.1, and prints `export` lines for
# the tests (eval them). Stop everything with: tests/env/aws-env.sh stop
#   - moto server (pinned, in a venv cached by the requirements' hash): the AWS control plane;
#   - Debian's docker-registry with a temp storage dir: a plain registry (AWS_APP_REGISTRY);
#   - the account's ECR registry, <account>.dkr.ecr.<region>.amazonaws.com, over TLS with ECR's
#     token auth, its pushes reflected in moto's ECR and its lifecycle policies applied
#     (tests/env/ecr-twin.sh);
#   - tests/env/strict/layer.py: the strict layer every AWS call of the tests goes through
#     (AWS's documented constraints, error shapes, throttling, latency, and the behaviour moto
#     lacks), with the data plane: a local "Fargate" running each deployment's image in Docker
#     and an HTTP(S) proxy for the load balancers: their DNS names and the names Route 53 aliases
#     to them, plain HTTP and CONNECT :443 with TLS from a test CA the layer makes at start
#     ($state/alb-ca/alb-ca.pem, AWS_APP_TEST_ALB_CA; AWS_APP_TEST_TRUST is the system's bundle
#     plus it, for the tool's SSL_CERT_FILE).
# AWS_APP_TEST_LATENCY_MS (default 25) is the latency the layer adds to each AWS call.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
env_dir=$PWD

log() { echo "env/aws: $*" >&2; }
state=/var/tmp/aws-app-test-env
mkdir -p "$state"

tests_env_ecr_stop() { "$env_dir/ecr-twin.sh" stop "$state" || true; }
stop() {
  for name in layer dataplane registry moto; do
    if [ -f "$state/$name.pid" ]; then kill "$(cat "$state/$name.pid")" 2>/dev/null || true; rm -f "$state/$name.pid"; fi
  done
}
if [ "${1:-start}" = stop ]; then stop; tests_env_ecr_stop; exit 0; fi

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
# MOTO_ACM_VALIDATION_WAIT=0: moto issues certificates at once; the layer decides when ACM has
# validated one (its DNS record, then a few seconds).
MOTO_IAM_LOAD_MANAGED_POLICIES=true MOTO_ECS_SERVICE_RUNNING=1 MOTO_ACM_VALIDATION_WAIT=0 \
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

# --- the account's ECR registry ----------------------------------------------------------------
eval "$("$env_dir/ecr-twin.sh" start "$state" "http://127.0.0.1:$moto_port")"

# --- the strict layer and the data plane ---------------------------------------------------------
aws_port=$(free_port)
proxy_port=$(free_port)
rm -rf "$state/alb-ca"
AWS_APP_TEST_ECR_PASSWORD=$AWS_APP_TEST_ECR_PASSWORD AWS_APP_TEST_ECR_CA=/var/cache/aws-app/ecr-ca/ca.crt setsid "$venv/bin/python" "$env_dir/strict/layer.py" \
  --aws-port "$aws_port" --alb-port "$proxy_port" --moto "http://127.0.0.1:$moto_port" \
  --latency-ms "${AWS_APP_TEST_LATENCY_MS:-25}" --docker-config "$AWS_APP_TEST_ECR_DOCKER_CONFIG" \
  --ca-dir "$state/alb-ca" \
  >"$state/layer.log" 2>&1 < /dev/null &
echo $! > "$state/layer.pid"
wait_http "http://127.0.0.1:$aws_port/-/ready" "strict layer"
wait_http "http://127.0.0.1:$proxy_port/-/ready" "data plane"
for f in alb-ca.pem alb-trust.pem; do
  [ -s "$state/alb-ca/$f" ] || { log "the layer did not write $state/alb-ca/$f"; exit 1; }
done

log "AWS (strict layer) :$aws_port over moto :$moto_port, registry :$registry_port, ECR ${AWS_APP_TEST_ECR_HOSTS%% *}, data plane proxy :$proxy_port (logs in $state)"
cat <<ENV
export AWS_APP_TEST_MOTO=http://127.0.0.1:$aws_port
export AWS_APP_TEST_MOTO_DIRECT=http://127.0.0.1:$moto_port
export AWS_APP_TEST_REGISTRY=127.0.0.1:$registry_port
export AWS_APP_TEST_PROXY=http://127.0.0.1:$proxy_port
export AWS_APP_TEST_MOTO_LOG=$state/moto.log
export AWS_APP_TEST_LAYER_LOG=$state/layer.log
export AWS_APP_TEST_PYTHON=$venv/bin/python
export AWS_APP_TEST_ECR_PASSWORD=$AWS_APP_TEST_ECR_PASSWORD
export AWS_APP_TEST_ECR_HOSTS="$AWS_APP_TEST_ECR_HOSTS"
export AWS_APP_TEST_ECR_DOCKER_CONFIG=$AWS_APP_TEST_ECR_DOCKER_CONFIG
export AWS_APP_TEST_ECR_CA=/var/cache/aws-app/ecr-ca/ca.crt
export AWS_APP_TEST_ALB_CA=$state/alb-ca/alb-ca.pem
export AWS_APP_TEST_TRUST=$state/alb-ca/alb-trust.pem
ENV
