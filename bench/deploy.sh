#!/usr/bin/env bash
# Benchmark of `deploy` against moto + a real registry + the local data plane (numbers for the
# README). Per round, on a fresh AWS environment (tests/env/aws-env.sh) and a fixture commit of
# its own (so the app layer is rebuilt and pushed; the Docker cache of the dependency layers is
# warm, as on a developer's machine):
#   - a full deploy, split by step from the tool's own progress lines (build, smoke test, push,
#     everything else = the tool's AWS work and overhead), and its AWS API calls;
#   - a no-change re-run: wall time and AWS API calls.
# Usage: bench/deploy.sh [ROUNDS] (default 5). Reports medians.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-5}

tests/env/docker.sh
base=$(tests/env/base-image.sh)
cargo build --locked --quiet --bin aws-app
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/aws-app"
work=$(mktemp -d /var/tmp/aws-app-bench-deploy.XXXXXX)
trap 'tests/env/aws-env.sh stop; rm -rf "$work"' EXIT

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m}'; }
median_int() { median "$@" | awk '{printf "%d", $1}'; }
step() { sed -nE "s/^aws-app: $1.* in ([0-9.]+) s.*$/\1/p" "$2" | head -n1; }

declare -a total build smoke push other calls rerun rerun_calls
for ((r = 1; r <= rounds; r++)); do
  eval "$(tests/env/aws-env.sh start 2>/dev/null)"
  export AWS_ENDPOINT_URL=$AWS_APP_TEST_MOTO AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_REGION=us-east-1 AWS_APP_REGISTRY=$AWS_APP_TEST_REGISTRY HTTP_PROXY=$AWS_APP_TEST_PROXY \
    NO_PROXY=127.0.0.1,localhost AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent \
    AWS_EC2_METADATA_DISABLED=true AWS_APP_BASE_IMAGE=$base
  repo="$work/repo-$r"
  mkdir -p "$repo"
  cp tests/fixtures/flask-app/* "$repo/"
  sed -i "s/Hello World!/Hello World! (bench round $r, $(date +%s%N))/" "$repo/app.py"
  git -C "$repo" init -q -b master
  git -C "$repo" add -A
  GIT_AUTHOR_DATE=2021-11-16T10:00:00Z GIT_COMMITTER_DATE=2021-11-16T10:00:00Z \
    git -C "$repo" -c user.name=Bench -c user.email=bench@example.com commit -qm "round $r"

  t=$(now)
  "$bin" deploy --prefix "bench$r" --repo "file://$repo" >/dev/null 2>"$work/deploy.err" \
    || { tail -20 "$work/deploy.err" >&2; exit 1; }
  total+=("$(since "$t")")
  build+=("$(step built "$work/deploy.err")")
  smoke+=("$(step 'smoke test passed' "$work/deploy.err")")
  push+=("$(step pushed "$work/deploy.err")")
  calls+=("$(sed -nE 's/.* ([0-9]+) AWS API calls\)$/\1/p' "$work/deploy.err")")
  other+=("$(awk -v t="${total[-1]}" -v b="${build[-1]}" -v s="${smoke[-1]}" -v p="${push[-1]}" 'BEGIN {printf "%.2f", t - b - s - p}')")

  t=$(now)
  "$bin" deploy --prefix "bench$r" --repo "file://$repo" >/dev/null 2>"$work/rerun.err" \
    || { tail -20 "$work/rerun.err" >&2; exit 1; }
  rerun+=("$(since "$t")")
  rerun_calls+=("$(sed -nE 's/.* ([0-9]+) AWS API calls\)$/\1/p' "$work/rerun.err")")
  echo "bench: round $r: deploy ${total[-1]} s (build ${build[-1]}, smoke ${smoke[-1]}, push ${push[-1]}, other ${other[-1]}; ${calls[-1]} calls), re-run ${rerun[-1]} s (${rerun_calls[-1]} calls)" >&2
done

cat <<REPORT

| \`deploy\` against moto (medians of $rounds rounds) | seconds |
|---|---|
| full deploy of a new commit, wall time | $(median "${total[@]}") |
| - image build (Docker cache of the dependency layers warm) | $(median "${build[@]}") |
| - smoke test | $(median "${smoke[@]}") |
| - push to the registry (first push of the repository) | $(median "${push[@]}") |
| - everything else: clone, AWS calls, rollout, verify, tool overhead | $(median "${other[@]}") |
| no-change re-run, wall time | $(median "${rerun[@]}") |

| AWS API calls | count |
|---|---|
| fresh deploy (account with a default VPC) | $(median_int "${calls[@]}") |
| no-change re-run | $(median_int "${rerun_calls[@]}") |
REPORT
