# shellcheck shell=bash disable=SC2034,SC2154
# (sets variables its sourcing script reads: version, base, why; reads its $here)
# Sourced by aws-app.sh and scripts/update-sums.sh: what a checkout ($here) says about its
# releases. Written for bash 3.2 (macOS's /bin/bash) and with no tool assumed (pure bash). The
# functions set their result, or `why` and return 1.

# $version: the first `version = "..."` of Cargo.toml's [package].
release_version() {
  local line section="" v
  [ -r "$here/Cargo.toml" ] || { why="no Cargo.toml in $here"; return 1; }
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      "["*) section=${line%%]*}] ;;
      version=*|"version "*|"version	"*)
        if [ "$section" = "[package]" ]; then
          v=${line#*=}; v=${v#*\"}; v=${v%%\"*}
          case "$v" in ""|*[!0-9A-Za-z.+-]*) why="cannot read the version in Cargo.toml"; return 1 ;; esac
          version=$v
          return 0
        fi ;;
    esac
  done < "$here/Cargo.toml"
  why="no version in Cargo.toml's [package]"
  return 1
}

# $base: where releases are downloaded from: AWS_APP_RELEASE_URL, else the GitHub releases of
# the repository release/repository names (its first line that is not a comment: owner/name).
release_base() {
  local line repo=""
  if [ -n "${AWS_APP_RELEASE_URL:-}" ]; then base=${AWS_APP_RELEASE_URL%/}; return 0; fi
  if [ -r "$here/release/repository" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line%$'\r'}
      case "$line" in "#"*|"") ;; *) repo=$line; break ;; esac
    done < "$here/release/repository"
  fi
  case "$repo" in
    */*/*|*[!A-Za-z0-9._/-]*|/*|*/|"") ;;
    */*) base="https://github.com/$repo/releases/download"; return 0 ;;
  esac
  why="release/repository does not name a GitHub repository (owner/name)"
  return 1
}

# The sum of archive $1 in checksum lines on stdin (dist's `<hex> *<file>`, or `<hex>  <file>`;
# comments and blank lines skipped), printed; 1 when there is none.
release_sum() {
  local line name
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    case "$line" in "#"*|"") continue ;; esac
    name=${line#* }; name=${name# }; name=${name#\*}
    if [ "$name" = "$1" ]; then echo "${line%% *}"; return 0; fi
  done
  return 1
}

# Whether $1 is a SHA-256 in lowercase hex.
is_sha256() {
  case "$1" in ""|*[!0-9a-f]*) return 1 ;; esac
  [ ${#1} = 64 ]
}
