#!/usr/bin/env bash
# Benchmark of `deploy` against the tests' AWS side (the strict layer over moto with a real
# call's latency, the account's ECR registry over TLS) and the local data plane (numbers for the
# README). Per round, on a fresh AWS side and a fixture commit of its own (so the app layer is
# rebuilt and pushed; the Docker cache of the dependency layers is warm, as on a developer's
# machine):
#   - a full deploy, split by step from the tool's own progress lines (build, smoke test, push,
#     rollout, load balancer + URL check, everything else = the tool's AWS work and overhead),
#     and its AWS API calls;
#   - a no-change re-run: wall time and AWS API calls;
#   - the same commit deployed under another prefix with `--builder ec2`: wall time, the
#     builder's launch until its engine answers (the layer boots it in 5 s; real EC2 takes about
#     a minute, see the README), its build, and the AWS API calls.
# Usage: bench/deploy.sh [ROUNDS] (default 5). Reports medians.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-5}
source bench/env.sh
work=$(mktemp -d /var/tmp/aws-app-bench-deploy.XXXXXX)
trap 'tests/env/aws-env.sh stop >/dev/null 2>&1; rm -rf "$work"' EXIT
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}'; }

declare -a total build smoke push rollout verify other calls rerun rerun_calls
declare -a ec2_total ec2_ready ec2_build ec2_calls
for ((r = 1; r <= rounds; r++)); do
  bench_env_start
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
  rollout+=("$(step 'rollout completed' "$work/deploy.err")")
  verify+=("$(sed -nE 's/.*\(verified in ([0-9.]+) s;.*/\1/p' "$work/deploy.err")")
  calls+=("$(calls "$work/deploy.err")")
  other+=("$(awk -v t="${total[-1]}" -v b="${build[-1]}" -v s="${smoke[-1]}" -v p="${push[-1]}" -v r="${rollout[-1]}" -v v="${verify[-1]}" 'BEGIN {printf "%.2f", t - b - s - p - r - v}')")

  t=$(now)
  "$bin" deploy --prefix "bench$r" --repo "file://$repo" >/dev/null 2>"$work/rerun.err" \
    || { tail -20 "$work/rerun.err" >&2; exit 1; }
  rerun+=("$(since "$t")")
  rerun_calls+=("$(calls "$work/rerun.err")")
  echo "bench: round $r: deploy ${total[-1]} s (build ${build[-1]}, smoke ${smoke[-1]}, push ${push[-1]}, rollout ${rollout[-1]}, verify ${verify[-1]}, other ${other[-1]}; ${calls[-1]} calls), re-run ${rerun[-1]} s (${rerun_calls[-1]} calls)" >&2
  t=$(now)
  "$bin" deploy --builder ec2 --builder-cidr 203.0.113.10/32 --prefix "benchec$r" \
    --repo "file://$repo" >/dev/null 2>"$work/ec2.err" || { tail -20 "$work/ec2.err" >&2; exit 1; }
  ec2_total+=("$(since "$t")")
  ec2_ready+=("$(step 'builder engine ready' "$work/ec2.err")")
  ec2_build+=("$(step built "$work/ec2.err")")
  ec2_calls+=("$(calls "$work/ec2.err")")
  echo "bench: round $r: on an EC2 builder ${ec2_total[-1]} s (engine ready ${ec2_ready[-1]}, build ${ec2_build[-1]}; ${ec2_calls[-1]} calls)" >&2
  "$bin" destroy --yes --prefix "bench$r" >/dev/null 2>&1 || true
  "$bin" destroy --yes --prefix "benchec$r" >/dev/null 2>&1 || true
done

cat <<REPORT

| \`deploy\` against the strict layer over moto (medians of $rounds rounds) | seconds |
|---|---|
| full deploy of a new commit, wall time | $(median "${total[@]}") |
| - image build (Docker cache of the dependency layers warm) | $(median "${build[@]}") |
| - smoke test | $(median "${smoke[@]}") |
| - push to the ECR registry (first push of the repository) | $(median "${push[@]}") |
| - rollout (the data plane starts the task and health-checks it) | $(median "${rollout[@]}") |
| - load balancer provisioning and URL check | $(median "${verify[@]}") |
| - everything else: clone, AWS calls and their retries, the lock, tool overhead | $(median "${other[@]}") |
| no-change re-run, wall time | $(median "${rerun[@]}") |
| the same commit on an EC2 builder (\`--builder ec2\`, another prefix), wall time | $(median "${ec2_total[@]}") |
| - from the builder's launch to its engine answering (boot emulated: 5 s) | $(median "${ec2_ready[@]}") |
| - image build on the builder's engine (the same engine here: cache warm) | $(median "${ec2_build[@]}") |

| AWS API calls | count |
|---|---|
| fresh deploy (account with a default VPC) | $(median_int "${calls[@]}") |
| no-change re-run | $(median_int "${rerun_calls[@]}") |
| fresh deploy on an EC2 builder | $(median_int "${ec2_calls[@]}") |
REPORT
