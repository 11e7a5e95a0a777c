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

# shellcheck source=release/lib.sh
. "$here/release/lib.sh"

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
release_version || die "$why"
cargo=$version
if [ $# = 1 ]; then version=${1#v}; fi
case "$version" in ""|*[!0-9A-Za-z.+-]*) die "invalid version '$version'" ;; esac
release_base || die "$why"

unified=$(fetch "$base/v$version/sha256.sum")
lines=""
missing=""
for target in $targets; do
  archive="aws-app-$target.tar.gz"
  if ! sum=$(release_sum "$archive" <<<"$unified"); then
    missing="$missing $archive"
    continue
  fi
  is_sha256 "$sum" || die "$base/v$version/sha256.sum: malformed sum for $archive: $sum"
  own=$(fetch "$base/v$version/$archive.sha256")
  own_sum=$(release_sum "$archive" <<<"$own") || die "$base/v$version/$archive.sha256 has no line for $archive"
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
