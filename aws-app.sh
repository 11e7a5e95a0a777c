#!/usr/bin/env bash
# The front door of aws-app. Maps the short forms onto the binary's subcommands, builds the binary
# when it is missing or older than its sources, and runs it:
#   ./aws-app.sh [OPTIONS]            -> aws-app deploy [OPTIONS]
#   ./aws-app.sh --local [OPTIONS]    -> aws-app build --run [OPTIONS]
#   ./aws-app.sh SUBCOMMAND [...]     -> aws-app SUBCOMMAND [...]  (options may come first)
# Without cargo but with Docker, aws-app is built from docker/tool.Dockerfile and run in a
# container (Docker socket and AWS settings passed through). AWS_APP_BIN=path runs that binary.
# Written for bash 3.2 too (macOS's /bin/bash).
set -euo pipefail

src=${BASH_SOURCE[0]}
case "$src" in */*) here=$(cd "${src%/*}" && pwd) ;; *) here=$(pwd) ;; esac

die() { echo "aws-app: error: $*" >&2; exit 2; }

# --- arguments -------------------------------------------------------------------------------
# The subcommand is the first word that is neither an option nor an option's value.
value_options=" --repo --branch --prefix --region --base-image --expect --port --interval --since "
has_local=false
rest=()
sub=""
skip_value=false
for a in "$@"; do
  if [ "$a" = "--local" ]; then has_local=true; else rest+=("$a"); fi
  if $skip_value; then skip_value=false; continue; fi
  if [ -z "$sub" ]; then
    case "$a" in
      --*=*) ;;
      -*) case "$value_options" in *" $a "*) skip_value=true ;; esac ;;
      *) sub=$a ;;
    esac
  fi
done
case "${1:-}" in
  -h|--help|-V|--version) ;;                                   # the binary's own help/version
  *)
    if [ -z "$sub" ] && $has_local; then
      set -- build --run ${rest[@]+"${rest[@]}"}
    elif [ "$sub" = build ] && $has_local; then
      set -- ${rest[@]+"${rest[@]}"} --run
    elif [ -z "$sub" ]; then
      set -- deploy "$@"
    fi ;;                                                      # else: passed through as is
esac

# --- Docker endpoint -------------------------------------------------------------------------
# bollard reads DOCKER_HOST, not the Docker CLI's contexts: colima and Docker Desktop put their
# socket elsewhere and record it in the current context.
docker_host_from_user=${DOCKER_HOST:-}
if [ -z "${DOCKER_HOST:-}" ] && command -v docker >/dev/null 2>&1; then
  ctx_host=$(docker context inspect --format '{{.Endpoints.docker.Host}}' 2>/dev/null || true)
  if [ -n "$ctx_host" ]; then export DOCKER_HOST="$ctx_host"; fi
fi

# --- the binary: given, or built with cargo --------------------------------------------------
if [ -n "${AWS_APP_BIN:-}" ]; then
  exec "$AWS_APP_BIN" "$@"
fi
# The AWS SDK crates need Rust 1.94 or newer: an older toolchain is as good as none.
cargo_ok=false
if command -v cargo >/dev/null 2>&1; then
  rust_minor=$(rustc --version 2>/dev/null | awk '{print $2}' | cut -d. -f2)
  if [ "${rust_minor:-0}" -ge 94 ] 2>/dev/null; then
    cargo_ok=true
  elif ! command -v docker >/dev/null 2>&1; then
    die "aws-app needs Rust 1.94 or newer (found $(rustc --version 2>/dev/null)): run \`rustup update\`"
  else
    echo "aws-app: Rust older than 1.94 here; running the tool image instead (or run \`rustup update\`)" >&2
  fi
fi
if $cargo_ok; then
  bin="${CARGO_TARGET_DIR:-$here/target}/debug/aws-app"
  inputs=("$here/src" "$here/docker/Dockerfile" "$here/docker/gunicorn.conf.py" "$here/docker/lock.py" "$here/Cargo.toml" "$here/Cargo.lock")
  if [ ! -x "$bin" ] || [ -n "$(find "${inputs[@]}" -newer "$bin" -print 2>/dev/null | head -n1)" ]; then
    echo "aws-app: building the tool with cargo (the first build takes a few minutes)" >&2
    cargo build --quiet --locked --manifest-path "$here/Cargo.toml" --bin aws-app
    touch "$bin"    # cargo leaves an up-to-date binary untouched; mark it checked
  fi
  exec "$bin" "$@"
fi

# --- or in a container -------------------------------------------------------------------------
if command -v docker >/dev/null 2>&1; then
  docker version >/dev/null 2>&1 || die "Docker is installed but not running: start Docker (or install Rust: https://rustup.rs)"
  if command -v sha256sum >/dev/null 2>&1; then sha=(sha256sum); else sha=(shasum -a 256); fi
  hash=$(cd "$here" && find Cargo.toml Cargo.lock docker src tests -type f -print0 | sort -z | xargs -0 cat | "${sha[@]}" | cut -c1-12)
  image="aws-app-tool:$hash"
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "aws-app: building the tool image $image (no cargo here; a few minutes, once)" >&2
    docker build --quiet -f "$here/docker/tool.Dockerfile" -t "$image" "$here" >/dev/null
  fi
  # The socket path as the engine sees it: a socket found through a Docker Desktop or colima
  # context lives on the Mac, while the engine (in its VM) serves /var/run/docker.sock.
  sock=/var/run/docker.sock
  case "$docker_host_from_user" in unix://*) sock=${docker_host_from_user#unix://} ;; esac
  run=(docker run --rm -i -v "$sock:/var/run/docker.sock" -e DOCKER_HOST=unix:///var/run/docker.sock
       --add-host host.docker.internal:host-gateway)
  if [ -t 0 ] && [ -t 1 ]; then run+=(-t); fi
  if [ -d "$HOME/.aws" ]; then run+=(-v "$HOME/.aws:/root/.aws:ro"); fi
  while IFS='=' read -r name _; do
    case "$name" in AWS_*|HTTP_PROXY|HTTPS_PROXY|NO_PROXY|http_proxy|https_proxy|no_proxy) run+=(-e "$name") ;; esac
  done < <(env)
  # A local repository (--repo PATH or file://PATH) is mounted at the same path, read-only.
  repo=${AWS_APP_REPO:-}
  prev=""
  for a in "$@"; do
    case "$a" in --repo=*) repo=${a#--repo=} ;; esac
    if [ "$prev" = "--repo" ]; then repo=$a; fi
    prev=$a
  done
  repo_path=${repo#file://}
  case "$repo_path" in
    /*) if [ -e "$repo_path" ]; then run+=(-v "$repo_path:$repo_path:ro"); fi ;;
  esac
  # The prefix defaults to the operator's git first name, which the container cannot see.
  if [ -z "${AWS_APP_PREFIX:-}" ]; then
    user_name=$(git config user.name 2>/dev/null || true)
    prefix=${user_name%% *}
    prefix=${prefix:-${USER:-}}
    if [ -n "$prefix" ]; then run+=(-e "AWS_APP_PREFIX=$prefix"); fi
  fi
  exec "${run[@]}" "$image" "$@"
fi

die "aws-app needs Rust (cargo, https://rustup.rs) or Docker to build itself: install one of them"
