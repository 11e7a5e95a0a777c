#!/usr/bin/env bash
# A local twin of ECR's registry side, under the real host names
# 123456789012.dkr.ecr.{us-east-1,us-west-2}.amazonaws.com, so the tool's real path runs:
# GetAuthorizationToken -> basic auth (AWS:PASSWORD) -> push over verified TLS -> moto sees it.
#   - a test CA and a server certificate for both names (made once, in /var/cache/aws-app/ecr-ca),
#     trusted by both engines through /etc/docker/certs.d/<host>/ca.crt;
#   - the names mapped (a marked block in /etc/hosts) to $ADDRESS, a /32 on `lo`: local only, and
#     outside 127.0.0.0/8, which Docker treats as an insecure registry (no TLS check, HTTP fallback);
#   - Debian's docker-registry on $ADDRESS:443 with TLS, htpasswd auth (user AWS, a fresh random
#     PASSWORD each start), delete enabled, and notifications to tests/env/ecr-events.py, which
#     mirrors each tagged manifest push into moto (put_image, same digest) and applies the
#     repository's lifecycle policy (expiring in moto and in the registry).
# usage: ecr-twin.sh start STATE_DIR MOTO_URL   (prints `export` lines; eval them)
#        ecr-twin.sh stop STATE_DIR
# Idempotent (start restarts); needs root; progress on stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
env_dir=$PWD

log() { echo "env/ecr: $*" >&2; }
die() { log "$*"; exit 1; }

cmd=${1:-}; state=${2:-}
[ -n "$state" ] && { [ "$cmd" = start ] || [ "$cmd" = stop ]; } \
  || die "usage: $0 start STATE_DIR MOTO_URL | stop STATE_DIR"
account=123456789012
regions="us-east-1 us-west-2"
hosts=$(for r in $regions; do printf '%s.dkr.ecr.%s.amazonaws.com ' "$account" "$r"; done); hosts=${hosts% }
# TEST-NET-2 (RFC 5737): never routed, and not this machine's (eth0 may sit in TEST-NET-1).
address=${AWS_APP_TEST_ECR_ADDRESS:-198.51.100.7}
ca_dir=/var/cache/aws-app/ecr-ca
marker="# aws-app ecr twin"
mkdir -p "$state"
state=$(cd "$state" && pwd)

hosts_block() { # remove | add
  local tmp; tmp=$(mktemp)
  grep -v -- "$marker" /etc/hosts > "$tmp" || true
  if [ "$1" = add ]; then for h in $hosts; do echo "$address $h $marker"; done >> "$tmp"; fi
  cat "$tmp" > /etc/hosts # in place: /etc/hosts may be a bind mount
  rm -f "$tmp"
}

stop() {
  local name pid
  for name in ecr-events ecr-registry; do
    if [ -f "$state/$name.pid" ]; then
      pid=$(cat "$state/$name.pid")
      # Only ours (the pid may have been reused since): ecr-events.py, or the registry on our config.
      if grep -qa -e ecr-events.py -e "$state/ecr-registry/config.yml" "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
      fi
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$state/$name.pid"
    fi
  done
  hosts_block remove
  ip addr del "$address/32" dev lo 2>/dev/null || true
}
if [ "$cmd" = stop ]; then stop; log "stopped"; exit 0; fi

moto_url=${3:-}
[ -n "$moto_url" ] || die "usage: $0 start STATE_DIR MOTO_URL"
venv=/var/cache/aws-app/moto-venv-$(sha256sum moto-requirements.txt | cut -c1-12)
[ -x "$venv/bin/python" ] || die "no moto venv at $venv: run tests/env/aws-env.sh start first"

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
# bcrypt for htpasswd: Python's crypt (libxcrypt's $2b$) while it exists, else apache2-utils.
bcrypt_py='import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))'
python3 -W ignore -c "$bcrypt_py" x 2>/dev/null | grep -q '^\$2' || command -v htpasswd >/dev/null 2>&1 \
  || need+=(apache2-utils)
if ((${#need[@]})); then
  log "installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
stop

# --- CA and server certificate (made once; the server one again if the names change) ----------
mkdir -p "$ca_dir"
if [ ! -s "$ca_dir/ca.crt" ] || [ ! -s "$ca_dir/ca.key" ]; then
  log "making the test CA in $ca_dir"
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=aws-app test ECR CA" \
    -keyout "$ca_dir/ca.key" -out "$ca_dir/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  rm -f "$ca_dir/server.crt"
fi
if [ ! -s "$ca_dir/server.crt" ] || [ "$(cat "$ca_dir/server.names" 2>/dev/null)" != "$hosts" ]; then
  log "making the server certificate for $hosts"
  san=$(for h in $hosts; do printf 'DNS:%s,' "$h"; done); san=${san%,}
  openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=${hosts%% *}" \
    -keyout "$ca_dir/server.key" -out "$ca_dir/server.csr" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
    "$san" > "$ca_dir/server.ext"
  openssl x509 -req -in "$ca_dir/server.csr" -CA "$ca_dir/ca.crt" -CAkey "$ca_dir/ca.key" \
    -CAcreateserial -days 3650 -sha256 -extfile "$ca_dir/server.ext" -out "$ca_dir/server.crt" 2>/dev/null
  echo "$hosts" > "$ca_dir/server.names"
fi
for h in $hosts; do
  mkdir -p "/etc/docker/certs.d/$h"
  cp "$ca_dir/ca.crt" "/etc/docker/certs.d/$h/ca.crt"
done

# --- the address and the names ----------------------------------------------------------------
ip addr add "$address/32" dev lo
hosts_block add

# --- credentials -------------------------------------------------------------------------------
password=$(openssl rand -hex 24)
mkdir -p "$state/ecr-registry"
if line=$(python3 -W ignore -c "$bcrypt_py" "$password" 2>/dev/null) && [[ "$line" == '$2'* ]]; then
  echo "AWS:$line" > "$state/ecr-registry/htpasswd"
else
  htpasswd -nbBC 4 AWS "$password" | head -n1 > "$state/ecr-registry/htpasswd"
fi
auth=$(printf 'AWS:%s' "$password" | base64 -w0)
dp_config="$state/dataplane-docker-config"
mkdir -p "$dp_config"
python3 - "$dp_config/config.json" "$auth" $hosts <<'PY'
import json, sys
path, auth, *hosts = sys.argv[1:]
json.dump({"auths": {h: {"auth": auth} for h in hosts}}, open(path, "w"), indent=2)
PY
chmod 600 "$dp_config/config.json" "$state/ecr-registry/htpasswd"

# --- event receiver ------------------------------------------------------------------------------
events_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
: > "$state/ecr-events.log"
ECR_PASSWORD=$password ECR_CA=$ca_dir/ca.crt AWS_ENDPOINT_URL=$moto_url AWS_ACCESS_KEY_ID=testing \
  AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 PYTHONUNBUFFERED=1 \
  setsid "$venv/bin/python" "$env_dir/ecr-events.py" "$events_port" \
  >>"$state/ecr-events.log" 2>&1 < /dev/null &
echo $! > "$state/ecr-events.pid"

# --- registry ----------------------------------------------------------------------------------
rm -rf "$state/ecr-registry/data"; mkdir -p "$state/ecr-registry/data"
cat > "$state/ecr-registry/config.yml" <<YAML
version: 0.1
log: {level: info, formatter: text, fields: {service: ecr-registry}}
storage: {filesystem: {rootdirectory: $state/ecr-registry/data}, delete: {enabled: true}, cache: {blobdescriptor: inmemory}}
http:
  addr: $address:443
  secret: $(openssl rand -hex 16)
  tls: {certificate: $ca_dir/server.crt, key: $ca_dir/server.key}
auth:
  htpasswd: {realm: "https://${hosts%% *}/", path: $state/ecr-registry/htpasswd}
notifications:
  endpoints:
    - {name: ecr-events, url: "http://127.0.0.1:$events_port/events", timeout: 5s, threshold: 3, backoff: 200ms}
YAML
setsid docker-registry serve "$state/ecr-registry/config.yml" >"$state/ecr-registry.log" 2>&1 < /dev/null &
echo $! > "$state/ecr-registry.pid"

wait_code() { # url code what [curl args...]
  local url=$1 code=$2 what=$3 got=; shift 3
  for _ in $(seq 1 100); do
    got=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" || true)
    [ "$got" = "$code" ] && return 0
    sleep 0.2
  done
  log "$what did not answer $code at $url (last: $got)"; return 1
}
wait_code "http://127.0.0.1:$events_port/-/ready" 200 "the event receiver" \
  || { tail -n 20 "$state/ecr-events.log" >&2; exit 1; }
for h in $hosts; do
  # Through /etc/hosts and the CA, as the engines connect: 401 without credentials, 200 with.
  wait_code "https://$h/v2/" 401 "the registry" --cacert "$ca_dir/ca.crt" \
    || { tail -n 20 "$state/ecr-registry.log" >&2; exit 1; }
  wait_code "https://$h/v2/" 200 "the registry (with AWS:PASSWORD)" --cacert "$ca_dir/ca.crt" -u "AWS:$password"
done

log "registry https://{${hosts// /,}} on $address:443, events :$events_port (logs in $state/ecr-*.log)"
cat <<ENV
export AWS_APP_TEST_ECR_PASSWORD=$password
export AWS_APP_TEST_ECR_HOSTS="$hosts"
export AWS_APP_TEST_ECR_ADDRESS=$address
export AWS_APP_TEST_ECR_DOCKER_CONFIG=$dp_config
export AWS_APP_TEST_ECR_LOG=$state/ecr-events.log
ENV
