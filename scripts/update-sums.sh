#!/usr/bin/env bash
# scripts/update-sums.sh [VERSION]: after a release, records its archives' SHA-256 sums in
# release/sha256.sum, the file aws-app.sh checks every prebuilt binary against.
#   VERSION              Cargo.toml's [package] version if not given; the release is tag v<VERSION>
#   AWS_APP_RELEASE_URL  base URL of the releases, as for aws-app.sh (default:
#                        https://github.com/<owner/name in release/repository>/releases/download)
# Reads <base>/v<VERSION>/sha256.sum (dist's file for the whole release, lines `<hex> *<file>`),
# keeps the lines of the four archives (fails naming any that is missing), checks each against the
# release's own <archive>.sha256, and replaces release/sha256.sum in one rename. Then: review the
# diff and commit it. Written for bash 3.2 too (macOS's /bin/bash).
set -euo pipefail

src=${BASH_SOURCE[0]}
case "$src" in */*) here=$(cd "${src%/*}/.." && pwd) ;; *) here=$(cd .. && pwd) ;; esac
# dist-workspace.toml's targets.
targets="aarch64-apple-darwin x86_64-apple-darwin x86_64-unknown-linux-gnu"
targets="$targets aarch64-unknown-linux-gnu"

die() { echo "update-sums: error: $*" >&2; exit 1; }

# Cargo.toml's [package] version (the same reading as aws-app.sh's).
cargo_version() {
  local line section="" v
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      "["*) section=${line%%]*}] ;;
      version=*|"version "*|"version	"*)
        if [ "$section" = "[package]" ]; then
          v=${line#*=}; v=${v#*\"}; v=${v%%\"*}
          echo "$v"
          return 0
        fi ;;
    esac
  done < "$here/Cargo.toml"
  return 1
}

# The first non-comment line of release/repository: owner/name.
repository() {
  local line
  [ -r "$here/release/repository" ] || return 1
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    case "$line" in "#"*|"") ;; *) echo "$line"; return 0 ;; esac
  done < "$here/release/repository"
  return 1
}

# The sum of FILE in a checksum file's text (lines `<hex> *<file>` or `<hex>  <file>`).
sum_for() {
  local file=$1 text=$2 line name
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    case "$line" in "#"*|"") continue ;; esac
    name=${line#* }; name=${name# }; name=${name#\*}
    if [ "$name" = "$file" ]; then echo "${line%% *}"; return 0; fi
  done <<<"$text"
  return 1
}

is_sha256() {
  case "$1" in *[!0-9a-f]*) return 1 ;; esac
  [ ${#1} = 64 ]
}

# The body at a URL, or the end: `cannot download URL (curl's last error)`.
fetch() {
  local out errors reason="" line
  errors=$(mktemp "${TMPDIR:-/tmp}/update-sums.XXXXXX")
  if out=$(curl -fsSL --retry 2 --connect-timeout 10 "$1" 2>"$errors"); then
    rm -f "$errors"
    printf '%s\n' "$out"
    return 0
  fi
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in curl:*) reason=${line#curl: } ;; esac
  done < "$errors"
  rm -f "$errors"
  case "$reason" in "("[0-9]*") "*) reason=${reason#*")"}; reason=${reason# } ;; esac
  die "cannot download $1 (${reason:-curl failed})"
}

[ $# -le 1 ] || die "usage: scripts/update-sums.sh [VERSION]"
cargo=$(cargo_version) || die "no version in Cargo.toml's [package]"
version=${1:-$cargo}
version=${version#v}
case "$version" in ""|*[!0-9A-Za-z.+-]*) die "invalid version '$version'" ;; esac
if [ -n "${AWS_APP_RELEASE_URL:-}" ]; then
  base=${AWS_APP_RELEASE_URL%/}
else
  repo=$(repository) || die "release/repository names no repository"
  case "$repo" in
    */*/*|*[!A-Za-z0-9._/-]*|/*|*/) die "release/repository: '$repo' is not owner/name" ;;
    */*) ;;
    *) die "release/repository: '$repo' is not owner/name" ;;
  esac
  base="https://github.com/$repo/releases/download"
fi

unified=$(fetch "$base/v$version/sha256.sum")
lines=""
missing=""
for target in $targets; do
  archive="aws-app-$target.tar.gz"
  if ! sum=$(sum_for "$archive" "$unified"); then
    missing="$missing $archive"
    continue
  fi
  is_sha256 "$sum" || die "$base/v$version/sha256.sum: malformed sum for $archive: $sum"
  own=$(fetch "$base/v$version/$archive.sha256")
  own_sum=$(sum_for "$archive" "$own") || die "$base/v$version/$archive.sha256 has no line for $archive"
  [ "$own_sum" = "$sum" ] \
    || die "the sums of $archive disagree: sha256.sum says $sum, $archive.sha256 says $own_sum"
  lines="$lines$sum *$archive
"
done
[ -z "$missing" ] || die "$base/v$version/sha256.sum has no sum for:$missing"

out="$here/release/sha256.sum"
tmp=$(mktemp "$here/release/.sha256.sum.XXXXXX")
trap 'rm -f "$tmp"' EXIT
{
  echo "# aws-app $version"
  echo "# The SHA-256 sums of the release archives of the version above, from its sha256.sum"
  echo "# ($base/v$version/), checked against each archive's .sha256 by scripts/update-sums.sh."
  echo "# aws-app.sh runs a downloaded binary only if it matches its line here."
  printf '%s' "$lines"
} > "$tmp"
chmod 644 "$tmp"
mv -f "$tmp" "$out"
trap - EXIT
echo "update-sums: release/sha256.sum now holds the sums of aws-app $version (4 archives): review and commit it" >&2
if [ "$version" != "$cargo" ]; then
  echo "update-sums: note: Cargo.toml says $cargo; aws-app.sh uses these sums only for $version" >&2
fi
