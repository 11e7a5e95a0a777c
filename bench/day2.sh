#!/usr/bin/env bash
# Day-2 benchmark against the tests' AWS side (the strict layer over moto, adding a real call's
# latency: 25 ms + up to 20 ms per call; the account's ECR registry over TLS) and the data plane,
# in one run so that ratios hold on a noisy machine:
#   - `redeploy` with nothing new (a remote listing and 3 AWS reads; no clone, no Docker) against
#     a `deploy` re-run with nothing new, as a ratio of medians;
#   - a full deploy of a new commit (`redeploy` after a one-line change): wall time, and the
#     tool's own time without AWS's fixed waits (the rollout, the load balancer and URL waits);
#   - the AWS API calls of each, and the bytes the registry gained per push.
# Usage: bench/day2.sh [ROUNDS] (default 7).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-7}
source bench/env.sh
work=$(mktemp -d /var/tmp/aws-app-bench-day2.XXXXXX)
trap 'tests/env/aws-env.sh stop >/dev/null 2>&1; rm -rf "$work"' EXIT
bench_env_start

since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }
bytes() { du -sb "$ecr_store" | cut -f1; }
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

b0=$(bytes); run deploy; first_push=$(( $(bytes) - b0 )); first_calls=$(calls "$work/last.err")

declare -a redeploy deploy
for ((r = 1; r <= rounds; r++)); do
  t=$(now); run redeploy; redeploy+=("$(since "$t")"); redeploy_calls=$(calls "$work/last.err")
  t=$(now); run deploy; deploy+=("$(since "$t")"); deploy_calls=$(calls "$work/last.err")
done

sed -i 's/Hello World!/Hello again!/' "$repo/app.py"
commit 2021-11-17T10:00:00Z "one-line change"
b0=$(bytes); t=$(now); run redeploy; full=$(since "$t"); change_push=$(( $(bytes) - b0 ))
rollout=$(step "rollout completed" "$work/last.err"); verify=$(sed -nE 's/.*\(verified in ([0-9.]+) s;.*/\1/p' "$work/last.err")
full_calls=$(calls "$work/last.err")
tool=$(awk -v a="$full" -v r="$rollout" -v v="$verify" 'BEGIN {printf "%.2f", a - r - v}')
"$bin" destroy --yes --prefix benchday2 >/dev/null 2>&1 || true

r=$(median "${redeploy[@]}"); d=$(median "${deploy[@]}")
cat <<REPORT

| nothing new (medians of $rounds; each AWS call 25-45 ms) | seconds | AWS API calls |
|---|---|---|
| \`redeploy\` (remote listing + what runs; no clone, no Docker) | $r | $redeploy_calls |
| \`deploy\` re-run (finds the running build, checks every resource, the lock) | $d | $deploy_calls |
| ratio deploy / redeploy | $(awk -v a="$d" -v b="$r" 'BEGIN {printf "%.1f", a / b}') × | |

| a new commit (one-line app.py change), \`redeploy\` | seconds | AWS API calls |
|---|---|---|
| wall time | $full | $full_calls |
| - rollout (the data plane starts the task and health-checks it) | $rollout | |
| - load balancer and URL check | $verify | |
| tool time without AWS's waits (clone, build, smoke test, push, AWS calls) | $tool | |
| first deploy, for comparison: AWS API calls | | $first_calls |

| pushed to the ECR registry | bytes |
|---|---|
| first push | $first_push |
| one-line app.py change | $change_push |
REPORT
