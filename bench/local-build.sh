#!/usr/bin/env bash
# Benchmark of aws-app's local build (issue: numbers for the README). Measures, in one run:
#   1. aws-app built from clean in the profile aws-app.sh uses (dev), and the binary's size;
#   2. cold and warm (one-line app.py change) image builds of the fixture app through aws-app,
#      against `docker build` (classic builder, as aws-app uses) of the same Dockerfile, context
#      and build args, as ratios of times taken in the same run, rounds alternating the order;
#   3. the final image's size and the size of the layers above the base image;
#   4. a code-only commit dated today, built warm with the recipe before issue 7 (the lock stage
#      keyed on the commit's time, so it resolved again: git show $OLD_RECIPE:docker/Dockerfile)
#      and with this one (the lock keyed on requirements.txt), both by `docker build`, same run.
# Steps 2-4 run on both engines the tests use, one after the other, each with its own table:
# Docker 26 with the containerd image store (tests/env/docker26.sh) and Docker 20.10 with the
# graph-driver store (tests/env/docker.sh).
# "Cold" means no build cache for the Dockerfile's layers (dangling images are pruned: run this
# on a machine whose Docker cache you can spare). Usage: bench/local-build.sh [ROUNDS] (default 5)
# SKIP_CARGO=1 skips step 1 (uses the existing binary).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
rounds=${1:-5}
# The last commit whose Dockerfile resolved dependencies as of the commit's date.
OLD_RECIPE=f555d89

if [ -z "${BENCH_ENGINE:-}" ]; then
  tests/env/docker.sh
  containerd_host=$(tests/env/docker26.sh)
  cli=$(dirname "$(ls -d /var/cache/aws-app/engines/trixie-*/usr/bin/docker | tail -n1)")
  export PATH="$cli:$PATH"
  for engine in "containerd $containerd_host" "graph-driver unix:///var/run/docker.sock"; do
    set -- $engine
    version=$(DOCKER_HOST=$2 docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')
    echo "bench: engine $1, Docker $version" >&2
    echo
    echo "Docker $version, $1 image store"
    BENCH_ENGINE=$1 DOCKER_HOST=$2 "$root/bench/local-build.sh" "$rounds"
    export SKIP_CARGO=1
  done
  exit 0
fi

base=$(tests/env/base-image.sh)
work=$(mktemp -d /var/tmp/aws-app-bench.XXXXXX)
prefix=bench
cleanup() {
  "$bin" destroy --local --prefix "$prefix" >/dev/null 2>&1 || true
  docker rmi -f bench-docker:cold bench-docker:warm bench-docker:today-old bench-docker:today-new \
    bench-docker:today-old-base bench-docker:today-new-base >/dev/null 2>&1 || true
  rm -rf "$work"
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'; }

# --- 1. the tool from clean ------------------------------------------------------------------
if [ "${SKIP_CARGO:-0}" = 1 ]; then
  cargo build --locked --quiet --bin aws-app
  bin="${CARGO_TARGET_DIR:-$root/target}/debug/aws-app"
  cargo_secs="(skipped)"
else
  echo "bench: cargo build from clean (dev profile, as aws-app.sh)" >&2
  t=$(now)
  CARGO_TARGET_DIR="$work/target" cargo build --locked --quiet --bin aws-app
  cargo_secs=$(since "$t")
  bin="$work/target/debug/aws-app"
fi
trap cleanup EXIT
bin_mb=$(awk -v b="$(stat -c %s "$bin")" 'BEGIN {printf "%.1f", b / 1048576}')

# --- the fixture: one commit, then a one-line change -------------------------------------------
commit() { # dir message date
  git -C "$1" add -A
  GIT_AUTHOR_DATE=$3 GIT_COMMITTER_DATE=$3 git -C "$1" -c user.name=Bench -c user.email=bench@example.com commit -qm "$2"
}
make_repo() {
  rm -rf "$work/repo"; mkdir -p "$work/repo"
  cp tests/fixtures/flask-app/* "$work/repo/"
  printf '*.pyc\n' > "$work/repo/.gitignore"
  git -C "$work/repo" init -q -b master
  commit "$work/repo" "Initial app" 2021-11-16T10:00:00Z
}
change_repo() {
  sed -i 's/Hello World!/Hello again!/' "$work/repo/app.py"
  commit "$work/repo" "Change the greeting" 2021-11-17T10:00:00Z
}
change_repo_today() {
  sed -i 's/Hello [a-zA-Z]*!/Hello today!/' "$work/repo/app.py"
  commit "$work/repo" "Change the greeting today" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
# The context aws-app sends, laid out for `docker build`: app/ = the commit, aws-app/ = ours
# (or, with "old", the recipe of $OLD_RECIPE).
make_context() {
  rm -rf "$work/ctx"; mkdir -p "$work/ctx/app" "$work/ctx/aws-app"
  git -C "$work/repo" archive HEAD | tar -x -C "$work/ctx/app"
  if [ "${1:-}" = old ]; then
    git show "$OLD_RECIPE:docker/Dockerfile" > "$work/ctx/aws-app/Dockerfile"
    git show "$OLD_RECIPE:docker/gunicorn.conf.py" > "$work/ctx/aws-app/gunicorn.conf.py"
  else
    cp docker/Dockerfile docker/gunicorn.conf.py docker/lock.py "$work/ctx/aws-app/"
  fi
}

reset_cache() {
  "$bin" destroy --local --prefix "$prefix" >/dev/null 2>&1 || true
  docker rmi -f bench-docker:cold bench-docker:warm >/dev/null 2>&1 || true
  docker image prune -f >/dev/null
}

# aws-app build; prints "<total s> <build step s>"
aws_app_build() {
  local t out
  t=$(now)
  out=$("$bin" build --prefix "$prefix" --repo "file://$work/repo" --base-image "$base" 2>&1 >/dev/null) \
    || { echo "$out" | tail -20 >&2; exit 1; }
  local total; total=$(since "$t")
  local step; step=$(echo "$out" | sed -nE 's/^aws-app: built .* in ([0-9.]+) s$/\1/p')
  echo "$total $step"
}

# docker build of the same context with the build args aws-app passes; prints "<s>"
docker_build() { # tag
  local sha time req_time t
  sha=$(git -C "$work/repo" rev-parse HEAD)
  time=$(TZ=UTC git -C "$work/repo" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ)
  req_time=$(TZ=UTC git -C "$work/repo" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ -- requirements.txt)
  t=$(now)
  DOCKER_BUILDKIT=0 docker build -q -f "$work/ctx/aws-app/Dockerfile" \
    --build-arg "BASE_IMAGE=$base" --build-arg "COMMIT_SHA=$sha" --build-arg "COMMIT_TIME=$time" \
    --build-arg "SOURCE_URL=file://$work/repo" --build-arg "REQUIREMENTS_TIME=$req_time" \
    --build-arg "RECIPE=bench" \
    -t "bench-docker:$1" "$work/ctx" >/dev/null 2>"$work/docker.err" || { tail -20 "$work/docker.err" >&2; exit 1; }
  since "$t"
}

declare -a a_cold a_cold_total a_warm a_warm_total d_cold d_warm today_old today_new
run_aws_app() {
  make_repo; reset_cache
  read -r total step < <(aws_app_build); a_cold_total+=("$total"); a_cold+=("$step")
  change_repo
  read -r total step < <(aws_app_build); a_warm_total+=("$total"); a_warm+=("$step")
  size=$(docker image inspect -f '{{.Size}}' "$(docker image ls --format '{{.Repository}}:{{.Tag}}' "$prefix-aws-app" | grep ":$(git -C "$work/repo" rev-parse HEAD)-" | head -n1)")
  echo "bench: aws-app cold ${a_cold[-1]} s (total ${a_cold_total[-1]} s), warm ${a_warm[-1]} s (total ${a_warm_total[-1]} s)" >&2
}
run_docker() {
  make_repo; make_context; reset_cache
  d_cold+=("$(docker_build cold)")
  change_repo; make_context
  d_warm+=("$(docker_build warm)")
  echo "bench: docker build cold ${d_cold[-1]} s, warm ${d_warm[-1]} s" >&2
}

# A code-only commit dated today, warm (the 2021 commit built first), with either recipe.
run_today() { # old|new
  make_repo; make_context "$1"; docker_build "today-$1-base" >/dev/null
  change_repo_today; make_context "$1"
  local secs; secs=$(docker_build "today-$1")
  if [ "$1" = old ]; then today_old+=("$secs"); else today_new+=("$secs"); fi
  echo "bench: code-only commit dated today, $1 recipe: $secs s" >&2
}

for ((r = 1; r <= rounds; r++)); do
  if ((r % 2)); then run_aws_app; run_docker; else run_docker; run_aws_app; fi
  if ((r % 2)); then run_today old; run_today new; else run_today new; run_today old; fi
done

# The median: one slow round (a busy network) does not move it.
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

base_size=$(docker image inspect -f '{{.Size}}' "$base")
mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1000000}'; }

cat <<REPORT

| measure (medians of $rounds rounds) | aws-app | docker build | ratio |
|---|---|---|---|
| cold image build | $(median "${a_cold[@]}") s | $(median "${d_cold[@]}") s | $(ratio "$(median "${a_cold[@]}")" "$(median "${d_cold[@]}")") |
| warm image build (one-line app.py change) | $(median "${a_warm[@]}") s | $(median "${d_warm[@]}") s | $(ratio "$(median "${a_warm[@]}")" "$(median "${d_warm[@]}")") |
| whole \`aws-app build\`, cold (clone + build + smoke test) | $(median "${a_cold_total[@]}") s | | |
| whole \`aws-app build\`, warm | $(median "${a_warm_total[@]}") s | | |

| code-only commit dated today, warm \`docker build\` (medians of $rounds) | seconds |
|---|---|
| before: lock keyed on the commit's time ($OLD_RECIPE), resolves again | $(median "${today_old[@]}") |
| after: lock keyed on requirements.txt, from cache | $(median "${today_new[@]}") |
| ratio after / before | $(ratio "$(median "${today_new[@]}")" "$(median "${today_old[@]}")") |

| image (as this engine reports it: the containerd store counts compressed content) | size |
|---|---|
| final image | $(mb "$size") MB |
| base image | $(mb "$base_size") MB |
| layers above the base (venv + app + config) | $(mb $((size - base_size))) MB |

| the tool | |
|---|---|
| \`cargo build\` from clean, dev profile (aws-app.sh's) | ${cargo_secs} s |
| binary size | ${bin_mb} MB |
| cores | $(nproc) |
REPORT
