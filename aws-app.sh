#!/usr/bin/env bash
# The front door of aws-app. Maps the short forms onto the binary's subcommands, finds the binary
# and runs it:
#   ./aws-app.sh [OPTIONS]            -> aws-app deploy [OPTIONS]
#   ./aws-app.sh --local [OPTIONS]    -> aws-app build --run [OPTIONS]
#   ./aws-app.sh SUBCOMMAND [...]     -> aws-app SUBCOMMAND [...]  (options may come first)
# The binary, first found of:
#   1. AWS_APP_BIN=path: that binary.
#   2. cargo with Rust 1.94 or newer: built from this checkout when missing or older than its
#      sources.
#   3. the release binary of this checkout's version (Cargo.toml) for this OS and CPU, downloaded
#      once from the GitHub release (AWS_APP_RELEASE_URL overrides the base URL; the repository is
#      named in release/repository) and run only if its SHA-256 is the one committed in
#      release/sha256.sum; kept in AWS_APP_CACHE_DIR (default ~/Library/Caches/aws-app on macOS,
#      ${XDG_CACHE_HOME:-~/.cache}/aws-app elsewhere). A download that does not match is refused.
#   4. Docker: aws-app built from docker/tool.Dockerfile and run in a container (Docker socket and
#      AWS settings passed through).
# Written for bash 3.2 too (macOS's /bin/bash).
set -euo pipefail

src=${BASH_SOURCE[0]}
case "$src" in */*) here=$(cd "${src%/*}" && pwd) ;; *) here=$(pwd) ;; esac

die() { echo "aws-app: error: $*" >&2; exit 2; }

# --- arguments -------------------------------------------------------------------------------
# The subcommand is the first word that is neither an option nor an option's value.
value_options=" --repo --branch --prefix --region --base-image --expect --port --interval --since --cpu --memory --count --min --max --keep-images --builder --builder-cidr --to --env --env-file --secret --domain "
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
old_rust=""
if command -v cargo >/dev/null 2>&1; then
  rust_minor=$(rustc --version 2>/dev/null | awk '{print $2}' | cut -d. -f2)
  if [ "${rust_minor:-0}" -ge 94 ] 2>/dev/null; then
    cargo_ok=true
  else
    old_rust=$(rustc --version 2>/dev/null || echo "no rustc")
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

# --- or the release binary, verified against the sums committed here ---------------------------
# The release of this checkout's version (Cargo.toml) for this OS and CPU, as dist publishes it
# (.github/workflows/release.yml): aws-app-<triple>.tar.gz holding aws-app-<triple>/aws-app. It
# is run only if its SHA-256 is the one release/sha256.sum records for that version and archive
# (scripts/update-sums.sh writes them after a release): no sum, nothing is downloaded; another
# sum, it is deleted and refused. Cached under <version>-<sum>/: a second run needs no network, and
# a changed sum never reuses an older binary. The functions return 1 with $why set when there is
# no binary to be had. (Functions called in an `if` run without `set -e`: every step is checked.)
why=""
download_failed=false
part=""
unpack=""
curl_pid=""

# The release target of this machine (a Rosetta shell on Apple silicon gets the native binary).
host_triple() {
  local arch arm64
  os=$(uname -s 2>/dev/null) || os=""
  arch=$(uname -m 2>/dev/null) || arch=""
  case "$os/$arch" in
    Darwin/arm64|Darwin/aarch64) triple=aarch64-apple-darwin ;;
    Darwin/x86_64)
      arm64=$(sysctl -n hw.optional.arm64 2>/dev/null || /usr/sbin/sysctl -n hw.optional.arm64 2>/dev/null || true)
      if [ "$arm64" = 1 ]; then triple=aarch64-apple-darwin; else triple=x86_64-apple-darwin; fi ;;
    Linux/x86_64|Linux/amd64) triple=x86_64-unknown-linux-gnu ;;
    Linux/aarch64|Linux/arm64) triple=aarch64-unknown-linux-gnu ;;
    /*|*/) why="no uname here to tell this machine's OS and CPU"; return 1 ;;
    *) why="none is released for $os $arch"; return 1 ;;
  esac
}

# $expected: the sum release/sha256.sum records for $archive, if its first line is
# `# aws-app <this version>`. Lines are dist's: `<sha256 hex> *<file>`.
committed_sum() {
  local file="$here/release/sha256.sum" header=""
  [ -r "$file" ] || { why="release/sha256.sum is missing"; return 1; }
  IFS= read -r header < "$file" || true
  header=${header%$'\r'}
  if [ "$header" != "# aws-app $version" ]; then
    case "$header" in
      "# aws-app "*) why="release/sha256.sum holds the sums of aws-app ${header#\# aws-app }, not of $version" ;;
      *) why="release/sha256.sum does not start with '# aws-app $version'" ;;
    esac
    return 1
  fi
  if ! expected=$(release_sum "$archive" < "$file"); then
    why="release/sha256.sum has no sum for $archive of aws-app $version"
    return 1
  fi
  is_sha256 "$expected" || { why="release/sha256.sum has a malformed sum for $archive"; return 1; }
}

# SHA-256 of a file, lowercase hex: GNU sha256sum, else the shasum of stock macOS.
sha256_of() {
  local out
  if command -v sha256sum >/dev/null 2>&1; then out=$(sha256sum < "$1") || return 1
  else out=$(shasum -a 256 < "$1") || return 1; fi
  echo "${out%% *}"
}

# Removes what a download left (on failure, and on exit or Ctrl-C while it runs).
cleanup_download() {
  if [ -n "$curl_pid" ]; then kill "$curl_pid" 2>/dev/null || true; curl_pid=""; fi
  if [ -n "$part" ]; then rm -rf "$part" "$part.err"; part=""; fi
  if [ -n "$unpack" ]; then rm -rf "$unpack"; unpack=""; fi
  trap - EXIT INT TERM
}

# $bin: the verified binary, cached or downloaded now. Returns 1 with $why when there is none
# ($download_failed if the download itself failed); a download that does not match the committed
# sum is deleted and refused (exit 2), whatever else is installed.
prebuilt_binary() {
  local cache dir tool rc shown line reason actual
  [ -r "$here/release/lib.sh" ] || { why="release/lib.sh is missing"; return 1; }
  # shellcheck source=release/lib.sh
  . "$here/release/lib.sh"
  release_version || return 1
  host_triple || return 1
  archive="aws-app-$triple.tar.gz"
  committed_sum || return 1
  if [ -n "${AWS_APP_CACHE_DIR:-}" ]; then cache=$AWS_APP_CACHE_DIR
  elif [ -z "${HOME:-}" ]; then why="no cache directory (HOME is not set)"; return 1
  elif [ "$os" = Darwin ]; then cache="$HOME/Library/Caches/aws-app"
  else cache="${XDG_CACHE_HOME:-$HOME/.cache}/aws-app"; fi
  dir="$cache/$version-${expected:0:12}/$triple"
  bin="$dir/aws-app"
  if [ -f "$bin" ] && [ -x "$bin" ]; then return 0; fi

  for tool in curl tar mktemp sleep; do
    command -v "$tool" >/dev/null 2>&1 || { why="no $tool here to download it"; return 1; }
  done
  if ! command -v sha256sum >/dev/null 2>&1 && ! command -v shasum >/dev/null 2>&1; then
    why="no sha256sum or shasum here to verify it"; return 1
  fi
  release_base || return 1
  url="$base/v$version/$archive"
  mkdir -p "$cache" 2>/dev/null || { why="cannot create the cache directory $cache"; return 1; }
  trap cleanup_download EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  part=$(mktemp "$cache/.download.XXXXXX" 2>/dev/null) || {
    cleanup_download; why="cannot write to the cache directory $cache"; return 1; }
  # curl runs in the background and the note goes out once bytes arrive: an unreachable server
  # or a missing release makes one error line, not a note and then an error.
  curl -fsSL --retry 2 --connect-timeout 10 -o "$part" "$url" 2>"$part.err" &
  curl_pid=$!
  shown=false
  while kill -0 "$curl_pid" 2>/dev/null; do
    if [ -s "$part" ]; then
      echo "aws-app: downloading aws-app $version for $triple (verified against release/sha256.sum)" >&2
      shown=true
      break
    fi
    sleep 0.1
  done
  rc=0
  wait "$curl_pid" || rc=$?
  curl_pid=""
  if [ "$rc" != 0 ]; then
    reason=""
    while IFS= read -r line || [ -n "$line" ]; do
      case "$line" in curl:*) reason=${line#curl: } ;; esac
    done < "$part.err"
    case "$reason" in "("[0-9]*") "*) reason=${reason#*")"}; reason=${reason# } ;; esac
    cleanup_download
    why="cannot download $url (${reason:-curl exit $rc})"
    download_failed=true
    return 1
  fi
  $shown || echo "aws-app: downloading aws-app $version for $triple (verified against release/sha256.sum)" >&2
  actual=$(sha256_of "$part") || actual="nothing readable"
  if [ "$actual" != "$expected" ]; then
    cleanup_download
    die "$archive from $url does not match release/sha256.sum: expected sha256 $expected, got $actual; deleted, not run"
  fi
  unpack=$(mktemp -d "$cache/.unpack.XXXXXX") || die "cannot write to the cache directory $cache"
  tar -xzf "$part" -C "$unpack" 2>/dev/null || die "cannot unpack $archive (its sum matched release/sha256.sum)"
  [ -f "$unpack/aws-app-$triple/aws-app" ] || die "$archive has no aws-app-$triple/aws-app in it"
  # mv is one rename in one file system: a concurrent run sees the whole binary or none.
  if ! { chmod 755 "$unpack/aws-app-$triple/aws-app" && mkdir -p "$dir" \
         && mv -f "$unpack/aws-app-$triple/aws-app" "$bin"; }; then
    die "cannot put aws-app into $dir"
  fi
  cleanup_download
}

if prebuilt_binary; then
  exec "$bin" "$@"
fi
if ! command -v docker >/dev/null 2>&1; then
  if [ -n "$old_rust" ]; then
    die "aws-app needs Rust 1.94 or newer (found $old_rust): run \`rustup update\` (no prebuilt binary: $why)"
  elif $download_failed; then
    die "$why: install Rust (https://rustup.rs) or Docker, or try again"
  fi
  die "no prebuilt binary ($why), so aws-app needs Rust (cargo, https://rustup.rs) or Docker: install one of them"
fi
if [ -n "$old_rust" ]; then
  echo "aws-app: Rust older than 1.94 here and no prebuilt binary ($why); running the tool image instead (or run \`rustup update\`)" >&2
else
  echo "aws-app: no prebuilt binary ($why); running the tool image instead" >&2
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
    case "$name" in
      AWS_APP_ENV_FILE) ;; # mounted below
      AWS_*|HTTP_PROXY|HTTPS_PROXY|NO_PROXY|http_proxy|https_proxy|no_proxy) run+=(-e "$name") ;;
    esac
  done < <(env)
  # An env file (--env-file PATH or AWS_APP_ENV_FILE) is mounted read-only at its absolute
  # path, and named by that path: the container's working directory is not this one.
  absolute() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
  mounted=" "
  mount_env_file() {
    case "$mounted" in *" $1 "*) return ;; esac # Docker refuses one mount point twice
    if [ -e "$1" ]; then run+=(-v "$1:$1:ro"); mounted="$mounted$1 "; fi
  }
  if [ -n "${AWS_APP_ENV_FILE:-}" ]; then
    env_file=$(absolute "$AWS_APP_ENV_FILE")
    mount_env_file "$env_file"
    run+=(-e "AWS_APP_ENV_FILE=$env_file")
  fi
  args=()
  prev=""
  for a in "$@"; do
    if [ "$prev" = "--env-file" ]; then
      a=$(absolute "$a")
      mount_env_file "$a"
    fi
    case "$a" in --env-file=*) a="--env-file=$(absolute "${a#--env-file=}")"; mount_env_file "${a#--env-file=}" ;; esac
    args+=("$a")
    prev=$a
  done
  set -- ${args[@]+"${args[@]}"}
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
