#!/usr/bin/env bash
# The front door of aws-app. Maps the short forms onto the binary's subcommands, builds the binary
# when it is missing or older than its sources, and runs it:
#   ./aws-app.sh [OPTIONS]            -> aws-app deploy [OPTIONS]
#   ./aws-app.sh --local [OPTIONS]    -> aws-app build --run [OPTIONS]
#   ./aws-app.sh SUBCOMMAND [...]     -> aws-app SUBCOMMAND [...]
# Without cargo but with Docker, aws-app is built from docker/tool.Dockerfile and run in a
# container (Docker socket and AWS settings passed through). AWS_APP_BIN=path runs that binary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "aws-app: error: $*" >&2; exit 2; }

# --- arguments -------------------------------------------------------------------------------
args=("$@")
has_local=false
rest=()
for a in "${args[@]+"${args[@]}"}"; do
  if [ "$a" = "--local" ]; then has_local=true; else rest+=("$a"); fi
done
first=${1:-}
case "$first" in
  -h|--help|-V|--version|help)
    set -- "${args[@]}" ;;
  destroy)
    set -- "${args[@]}" ;;          # destroy --local is the binary's own option
  build)
    if $has_local; then set -- build --run "${rest[@]:1}"; else set -- "${args[@]}"; fi ;;
  ""|-*)
    if $has_local; then set -- build --run "${rest[@]+"${rest[@]}"}"; else set -- deploy "${args[@]+"${args[@]}"}"; fi ;;
  *)
    set -- "${args[@]}" ;;
esac

# --- Docker endpoint -------------------------------------------------------------------------
# bollard reads DOCKER_HOST, not the Docker CLI's contexts: colima and Docker Desktop put their
# socket elsewhere and record it in the current context.
if [ -z "${DOCKER_HOST:-}" ] && command -v docker >/dev/null 2>&1; then
  ctx_host=$(docker context inspect --format '{{.Endpoints.docker.Host}}' 2>/dev/null || true)
  if [ -n "$ctx_host" ]; then export DOCKER_HOST="$ctx_host"; fi
fi

# --- the binary: given, or built with cargo ---------------------------------------------------------
if [ -n "${AWS_APP_BIN:-}" ]; then
  exec "$AWS_APP_BIN" "$@"
fi
if command -v cargo >/dev/null 2>&1; then
  bin="${CARGO_TARGET_DIR:-$here/target}/debug/aws-app"
  if [ ! -x "$bin" ] || [ -n "$(find "$here/src" "$here/docker" "$here/Cargo.toml" "$here/Cargo.lock" -newer "$bin" -print -quit 2>/dev/null)" ]; then
    echo "aws-app: building the tool with cargo (the first build takes a few minutes)" >&2
    cargo build --quiet --locked --manifest-path "$here/Cargo.toml" --bin aws-app
  fi
  exec "$bin" "$@"
fi

# --- or in a container ---------------------------------------------------------------------------
if command -v docker >/dev/null 2>&1; then
  docker version >/dev/null 2>&1 || die "Docker is installed but not running: start Docker (or install Rust: https://rustup.rs)"
  hash=$(cd "$here" && cat Cargo.toml Cargo.lock docker/* $(find src tests -type f | sort) | sha256sum | cut -c1-12)
  image="aws-app-tool:$hash"
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "aws-app: building the tool image $image (no cargo here; a few minutes, once)" >&2
    docker build --quiet -f "$here/docker/tool.Dockerfile" -t "$image" "$here" >/dev/null
  fi
  sock=/var/run/docker.sock
  case "${DOCKER_HOST:-}" in unix://*) sock=${DOCKER_HOST#unix://} ;; esac
  run=(docker run --rm -i -v "$sock:/var/run/docker.sock" -e DOCKER_HOST=unix:///var/run/docker.sock
       --add-host host.docker.internal:host-gateway)
  [ -t 0 ] && [ -t 1 ] && run+=(-t)
  [ -d "$HOME/.aws" ] && run+=(-v "$HOME/.aws:/root/.aws:ro")
  while IFS='=' read -r name _; do
    case "$name" in AWS_*) run+=(-e "$name") ;; esac
  done < <(env)
  # A local repository (--repo PATH or file://PATH) is mounted at the same path, read-only.
  repo=${AWS_APP_REPO:-}
  prev=""
  for a in "$@"; do
    case "$a" in --repo=*) repo=${a#--repo=} ;; esac
    [ "$prev" = "--repo" ] && repo=$a
    prev=$a
  done
  repo_path=${repo#file://}
  case "$repo_path" in
    /*) [ -e "$repo_path" ] && run+=(-v "$repo_path:$repo_path:ro") ;;
  esac
  # The prefix defaults to the operator's git first name, which the container cannot see.
  if [ -z "${AWS_APP_PREFIX:-}" ]; then
    user_name=$(git config user.name 2>/dev/null || true)
    prefix=${user_name%% *}
    prefix=${prefix:-${USER:-}}
    [ -n "$prefix" ] && run+=(-e "AWS_APP_PREFIX=$prefix")
  fi
  exec "${run[@]}" "$image" "$@"
fi

die "aws-app needs Rust (cargo, https://rustup.rs) or Docker to build itself: install one of them"
