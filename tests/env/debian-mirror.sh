#!/usr/bin/env bash
# Prints the Debian mirror this machine's apt already uses (no host is written into the project),
# or fails with one line saying so. Used by base-image.sh (debootstrap) and docker26.sh.
set -euo pipefail
mirror=$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
  | grep -E '^(URIs:|deb )' | grep -v security \
  | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//; s/[[:space:]].*$//' \
  | awk 'NR==1' || true)
[ -n "$mirror" ] || { echo "env/debian-mirror: cannot find a Debian mirror in /etc/apt sources" >&2; exit 1; }
echo "$mirror"
