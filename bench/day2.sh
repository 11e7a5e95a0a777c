#!/usr/bin/env bash
# Benchmark of the day-2 paths against moto + registry + data plane (numbers for the README):
#   - `redeploy` with nothing new (a remote listing, no clone, no Docker) against a `deploy`
#     re-run with nothing new, as a ratio of medians in the same run;
#   - bytes the registry gained for the first push, and for a one-line app change (its storage
#     directory measured before and after: what really crossed the wire, compressed).
# Usage: bench/day2.sh [ROUNDS] (default 7).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-7}

tests/env/docker.sh
base=$(tests/env/base-image.sh)
cargo build --locked --quiet --bin aws-app
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/aws-app"
work=$(mktemp -d /var/tmp/aws-app-bench-day2.XXXXXX)
trap 'tests/env/aws-env.sh stop; rm -rf "$work"' EXIT
eval "$(tests/env/aws-env.sh start 2>/dev/null)"
export AWS_ENDPOINT_URL=$AWS_APP_TEST_MOTO AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=us-east-1 AWS_APP_REGISTRY=$AWS_APP_TEST_REGISTRY HTTP_PROXY=$AWS_APP_TEST_PROXY \
  NO_PROXY=127.0.0.1,localhost AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
  AWS_EC2_METADATA_DISABLED=true AWS_APP_BASE_IMAGE=$base
store=/var/tmp/aws-app-test-env/registry/data

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m}'; }
bytes() { du -sb "$store" | cut -f1; }

repo="$work/repo"
mkdir -p "$repo"
cp tests/fixtures/flask-app/* "$repo/"
git -C "$repo" init -q -b master
commit() {
  git -C "$repo" add -A
  GIT_AUTHOR_DATE=$1 GIT_COMMITTER_DATE=$1 git -C "$repo" -c user.name=Bench -c user.email=bench@example.com commit -qm "$2"
}
commit 2021-11-16T10:00:00Z "first"
run() { "$bin" "$@" --prefix benchday2 --repo "file://$repo" >/dev/null 2>"$work/last.err" || { tail -20 "$work/last.err" >&2; exit 1; }; }

b0=$(bytes); run deploy; first_push=$(( $(bytes) - b0 ))

declare -a redeploy deploy
for ((r = 1; r <= rounds; r++)); do
  t=$(now); run redeploy; redeploy+=("$(since "$t")")
  t=$(now); run deploy; deploy+=("$(since "$t")")
done

sed -i 's/Hello World!/Hello again!/' "$repo/app.py"
commit 2021-11-17T10:00:00Z "one-line change"
b0=$(bytes); run redeploy; change_push=$(( $(bytes) - b0 ))
"$bin" destroy --yes --prefix benchday2 >/dev/null 2>&1 || true

r=$(median "${redeploy[@]}"); d=$(median "${deploy[@]}")
cat <<REPORT

| nothing new (medians of $rounds) | seconds |
|---|---|
| \`redeploy\` (remote listing; no clone, no Docker) | $r |
| \`deploy\` re-run (finds the image in the registry, checks every resource) | $d |
| ratio deploy / redeploy | $(awk -v a="$d" -v b="$r" 'BEGIN {printf "%.1f", a / b}') |

| pushed to the registry | bytes |
|---|---|
| first push | $first_push |
| one-line app.py change | $change_push |
REPORT
