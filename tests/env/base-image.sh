#!/usr/bin/env bash
# Builds the base image the tests pass as --base-image, since no registry image can be pulled
# here: a minimal Debian made with debootstrap, with python3 + venv, and the host's CA bundle
# (pip inside builds must trust the TLS-intercepting proxy of this network). The tag carries a
# hash of the recipe (suite, packages, settings) and of the CA bundle, so a second run finds it
# and returns at once. The root file system is kept as one tar file, and every engine (the
# DOCKER_HOST this runs with) imports those same bytes: the image has the same layer, and so the
# same content identity to aws-app, on each of them.
# Prints the image tag on stdout.
set -euo pipefail

log() { echo "env/base-image: $*" >&2; }

suite=bookworm
packages=python3,python3-venv,ca-certificates
changes=(
  "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt"
  "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
  "ENV LANG=C.UTF-8"
  'CMD ["python3"]'
)
ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$ca" ] || { log "no CA bundle at $ca"; exit 1; }
hash=$( { echo "$suite $packages ${changes[*]} one-tar-for-every-engine"; cat "$ca"; } | sha256sum | cut -c1-12)
tag="aws-app-test/base:${suite}-${hash}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  log "cached: $tag"
  echo "$tag"
  exit 0
fi

cache=/var/cache/aws-app
rootfs_tar="$cache/base-rootfs-${suite}-${hash}.tar"
import_args=()
for c in "${changes[@]}"; do import_args+=(--change "$c"); done
if [ -s "$rootfs_tar" ]; then
  docker import "${import_args[@]}" "$rootfs_tar" "$tag" >/dev/null
  log "imported $tag from $rootfs_tar"
  echo "$tag"
  exit 0
fi

if ! command -v debootstrap >/dev/null 2>&1; then
  log "installing debootstrap"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq debootstrap >/dev/null
fi

mirror=$("$(dirname "${BASH_SOURCE[0]}")/debian-mirror.sh")

root=$(mktemp -d /var/tmp/aws-app-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
log "debootstrap $suite from $mirror (a few minutes, once)"
debootstrap --variant=minbase --include="$packages" \
  "$suite" "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; exit 1; }
rm -f "$root.log"
cp "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

mkdir -p "$cache"
tar -C "$root" -c . > "$rootfs_tar.part" && mv "$rootfs_tar.part" "$rootfs_tar"
docker import "${import_args[@]}" "$rootfs_tar" "$tag" >/dev/null
log "built $tag"
echo "$tag"
