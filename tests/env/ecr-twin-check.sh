#!/usr/bin/env bash
# Demo check of the ECR twin (tests/env/ecr-twin.sh), end to end on both engines: verified TLS
# under the real ECR host name, basic auth, push -> moto DescribeImages (same digest), pull by
# digest with the data plane's config, and lifecycle expiry in moto and in the registry.
# usage: ecr-twin-check.sh [MOTO_URL]   (default $AWS_APP_TEST_MOTO; aws-env.sh must be running)
# It (re)starts the twin in $ECR_CHECK_STATE (default /var/tmp/aws-app-test-env) and leaves it up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

log() { echo "env/ecr-check: $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
moto_url=${1:-${AWS_APP_TEST_MOTO:-}}
[ -n "$moto_url" ] || fail "usage: $0 MOTO_URL (or set AWS_APP_TEST_MOTO)"
state=${ECR_CHECK_STATE:-/var/tmp/aws-app-test-env}
venv=/var/cache/aws-app/moto-venv-$(sha256sum moto-requirements.txt | cut -c1-12)
cli=$(dirname "$(ls -d /var/cache/aws-app/engines/trixie-*/usr/bin/docker | grep -v '\.part/' | tail -n1)")
export PATH="$cli:$PATH"
base=${AWS_APP_TEST_BASE_IMAGE:-aws-app-test/base:bookworm-d7dbf3c12a32}
repo=check-repo

eval "$(./ecr-twin.sh start "$state" "$moto_url")"
host=${AWS_APP_TEST_ECR_HOSTS%% *} # us-east-1
ca=/etc/docker/certs.d/$host/ca.crt
work=$(mktemp -d /tmp/ecr-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/empty" "$work/login"
echo '{}' > "$work/empty/config.json"

# moto, through boto3 (us-east-1): reset REPO | delete REPO | policy REPO KEEP PREFIX | digest REPO TAG | has REPO DIGEST
moto() {
  AWS_ENDPOINT_URL=$moto_url AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \
    "$venv/bin/python" - "$@" <<'PY'
import json, sys, boto3
ecr = boto3.client("ecr")
cmd, repo, *args = sys.argv[1:]
if cmd in ("reset", "delete"):
    try:
        ecr.delete_repository(repositoryName=repo, force=True)
    except ecr.exceptions.RepositoryNotFoundException:
        pass
    if cmd == "reset":
        ecr.create_repository(repositoryName=repo)
elif cmd == "policy":
    rule = {"rulePriority": 1, "description": f"keep {args[0]} '{args[1]}*'",
            "selection": {"tagStatus": "tagged", "tagPrefixList": [args[1]],
                          "countType": "imageCountMoreThan", "countNumber": int(args[0])},
            "action": {"type": "expire"}}
    ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=json.dumps({"rules": [rule]}))
elif cmd == "wait":  # TAG DIGEST SINCE: seconds from SINCE until moto shows TAG -> DIGEST
    import time
    tag, digest, since = args[0], args[1], float(args[2])
    first = True
    while time.time() < since + 15:
        got = [i["imageDigest"] for i in ecr.describe_images(repositoryName=repo)["imageDetails"]
               if tag in i.get("imageTags", [])]
        if got:
            took = ("<=%.2f" if first else "%.2f") % (time.time() - since)  # (boto3 takes ~0.2 s to load)
            print(took if got[0] == digest else f"moto has {tag} -> {got[0]}")
            sys.exit(got[0] != digest)
        first = False
        time.sleep(0.01)
    sys.exit(f"moto does not show {tag} -> {digest} after 15 s")
else:
    images = ecr.describe_images(repositoryName=repo)["imageDetails"]
    if cmd == "digest":
        print(next((i["imageDigest"] for i in images if args[0] in i.get("imageTags", [])), ""))
    else:
        print("yes" if any(i["imageDigest"] == args[0] for i in images) else "no")
PY
}
# The registry's answer (HTTP code) for a manifest, with the password.
accept=application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json
accept+=,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.docker.distribution.manifest.v2+json
registry_code() { # ref
  curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" -u "AWS:$AWS_APP_TEST_ECR_PASSWORD" -H "Accept: $accept" \
    "https://$host/v2/$repo/manifests/$1"
}
push() { # tag -> sets digest (as the push reported it) and pushed_at (when the push ended)
  local out
  out=$(DOCKER_CONFIG=$work/login docker push "$host/$repo:$1" 2>&1) || fail "push $1: $out"
  pushed_at=$(date +%s.%N)
  digest=$(grep -o 'digest: sha256:[0-9a-f]*' <<<"$out" | tail -n1 | cut -d' ' -f2)
  [ -n "$digest" ] || fail "no digest in the push's output: $out"
}

check_engine() { # name DOCKER_HOST
  local name=$1 d t1 l3 wrong out delays=() digests=()
  export DOCKER_HOST=$2
  log "== $name: $(docker version --format 'Docker {{.Server.Version}}') at $DOCKER_HOST"
  moto reset "$repo"

  out=$(echo x | DOCKER_CONFIG=$work/login docker login -u AWS --password-stdin "$AWS_APP_TEST_ECR_ADDRESS" 2>&1) \
    && fail "login by address succeeded: TLS is not verified"
  grep -q x509 <<<"$out" || fail "login by address: $out"
  log "ok: TLS verified (login to https://$AWS_APP_TEST_ECR_ADDRESS refused: $(grep -o 'x509:[^"]*' <<<"$out" | head -n1))"

  out=$(echo wrong | DOCKER_CONFIG=$work/login docker login -u AWS --password-stdin "$host" 2>&1) \
    && fail "login with a wrong password succeeded"
  wrong=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$ca" -u AWS:wrong "https://$host/v2/")
  [ "$wrong" = 401 ] || fail "wrong password: HTTP $wrong"
  log "ok: wrong password refused (HTTP $wrong; docker: $(tail -n1 <<<"$out"))"

  docker tag "$base" "$host/$repo:t1"
  out=$(DOCKER_CONFIG=$work/empty docker push "$host/$repo:t1" 2>&1) && fail "push without login succeeded"
  grep -qiE 'no basic auth|unauthorized|authentication required' <<<"$out" || fail "push without login: $out"
  log "ok: push without login refused ($(tail -n1 <<<"$out"))"

  DOCKER_CONFIG=$work/login docker login -u AWS --password-stdin "$host" <<<"$AWS_APP_TEST_ECR_PASSWORD" >/dev/null 2>&1 \
    || fail "login with the password"
  push t1; t1=$digest
  d=$(moto wait "$repo" t1 "$t1" "$pushed_at") || fail "$d (see $AWS_APP_TEST_ECR_LOG)"; delays+=("$d")
  [ "$(registry_code t1)" = 200 ] || fail "registry: no t1"
  curl -s -D "$work/h" -o "$work/m" --cacert "$ca" -u "AWS:$AWS_APP_TEST_ECR_PASSWORD" -H "Accept: $accept" \
    "https://$host/v2/$repo/manifests/t1"
  d=$(tr -d '\r' < "$work/h" | awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}')
  [ "$d" = "$t1" ] && [ "sha256:$(sha256sum < "$work/m" | cut -d' ' -f1)" = "$t1" ] \
    || fail "the registry's t1 is $d, the push reported $t1"
  log "ok: pushed t1 = $t1, $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("mediaType"))' "$work/m"); the registry and moto DescribeImages: the same digest"

  moto policy "$repo" 2 l
  for i in 1 2 3; do
    cid=$(docker create "$base" true)
    docker commit --change "LABEL ecr-twin-check=$name-$i-$RANDOM" "$cid" "$host/$repo:l$i" >/dev/null
    docker rm "$cid" >/dev/null
    push "l$i"; digests+=("$digest")
    d=$(moto wait "$repo" "l$i" "$digest" "$pushed_at") || fail "$d (see $AWS_APP_TEST_ECR_LOG)"; delays+=("$d")
  done
  for _ in $(seq 1 100); do [ "$(moto has "$repo" "${digests[0]}")" = no ] && break; sleep 0.1; done
  [ "$(moto has "$repo" "${digests[0]}")" = no ] || fail "moto still has l1 ${digests[0]}"
  for i in 1 2; do [ "$(moto has "$repo" "${digests[$i]}")" = yes ] || fail "moto lost l$((i + 1))"; done
  [ "$(moto digest "$repo" t1)" = "$t1" ] || fail "moto lost t1"
  [ "$(registry_code "${digests[0]}")" = 404 ] && [ "$(registry_code l1)" = 404 ] || fail "the registry still has l1"
  [ "$(registry_code l2)" = 200 ] && [ "$(registry_code l3)" = 200 ] || fail "the registry lost l2/l3"
  log "ok: lifecycle (keep 2 'l*'): l1 ${digests[0]:0:19}... expired from moto and the registry; l2, l3, t1 kept"
  # By the digest of an image no other name holds (Docker 20.10 answers a pull by digest of an
  # image it has from its own store, without asking the registry).
  docker rmi "$host/$repo:l3" >/dev/null; l3=${digests[2]}
  out=$(DOCKER_CONFIG=$work/empty docker pull "$host/$repo@$l3" 2>&1) && fail "pull without credentials succeeded"
  grep -qiE 'no basic auth|unauthorized|authentication required' <<<"$out" || fail "pull without credentials: $out"
  DOCKER_CONFIG=$AWS_APP_TEST_ECR_DOCKER_CONFIG docker pull -q "$host/$repo@$l3" >/dev/null \
    || fail "pull by digest with the data plane's config"
  out=$(DOCKER_CONFIG=$AWS_APP_TEST_ECR_DOCKER_CONFIG docker run --rm "$host/$repo@$l3" sh -c 'echo ran' 2>&1) \
    || fail "run by digest with the data plane's config: $out"
  [ "$(tail -n1 <<<"$out")" = ran ] || fail "run by digest: $out"
  log "ok: pull by digest refused without credentials; with the data plane's config, pull and run of $host/$repo@${l3:0:19}... work"

  log "ok: push end -> moto DescribeImages: ${delays[*]} s"
  docker rmi "$host/$repo:t1" "$host/$repo:l1" "$host/$repo:l2" "$host/$repo@$l3" >/dev/null
  rm -rf "$work/login" && mkdir -p "$work/login"
}

check_engine docker26 unix:///run/aws-app-docker26/docker.sock
check_engine docker20 unix:///var/run/docker.sock

# An OCI index under a tag (what the containerd store pushes for multi-platform or attested
# images), put straight into the registry: moto must record the index's digest for the tag.
index=$(python3 - "$work" "$ca" "$host" "$repo" "$AWS_APP_TEST_ECR_PASSWORD" "$accept" <<'PY'
import base64, hashlib, json, ssl, sys, urllib.request
work, ca, host, repo, password, accept = sys.argv[1:]
tls, auth = ssl.create_default_context(cafile=ca), "Basic " + base64.b64encode(f"AWS:{password}".encode()).decode()
def call(method, ref, body=None, ctype=None):
    req = urllib.request.Request(f"https://{host}/v2/{repo}/manifests/{ref}", data=body, method=method,
                                 headers={"Authorization": auth, "Accept": accept, **({"Content-Type": ctype} if ctype else {})})
    with urllib.request.urlopen(req, context=tls) as r:
        return r.read(), r.headers
children = []
for tag in ("l2", "l3"):
    body, headers = call("GET", tag)
    children.append({"mediaType": headers["Content-Type"], "size": len(body), "digest": headers["Docker-Content-Digest"],
                     "platform": {"architecture": "amd64" if tag == "l2" else "arm64", "os": "linux"}})
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": children}).encode()
_, headers = call("PUT", "idx", index, "application/vnd.oci.image.index.v1+json")
assert headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(index).hexdigest()
print(headers["Docker-Content-Digest"])
PY
) || fail "pushing an index"
pushed_at=$(date +%s.%N)
d=$(moto wait "$repo" idx "$index" "$pushed_at") || fail "index: $d"
log "ok: an OCI index pushed as idx ($index) is in moto under its own digest (${d} s)"
log "the receiver's lag (registry event -> moto PutImage done):"
grep -o 'check-repo:[a-z0-9]*: in moto.*' "$AWS_APP_TEST_ECR_LOG" | sed 's/ as sha256:[0-9a-f]*//' >&2
log "expiries logged:"; grep expired "$AWS_APP_TEST_ECR_LOG" >&2
moto delete "$repo"
log "all checks passed on both engines"
