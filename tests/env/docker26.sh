#!/usr/bin/env bash
# The Docker engine users run today, beside the machine's own: Debian trixie's docker.io (26.1)
# with containerd (1.7) and the containerd image store, as Docker Desktop and Engine 29 keep
# images, refusing clients below API 1.44 (DOCKER_MIN_API_VERSION, as Engine 29 does).
#
# The packages are unpacked from the Debian mirror apt already uses (each file checked against
# trixie's Packages index), without changing the system's package sources; bookworm's runc runs
# the containers. It has its own containerd, data root, exec root, socket and bridge (awsapp26,
# 172.29.0.0/24, with NAT rules of its own and no iptables management of its own), so it runs
# beside the bookworm engine (tests/env/docker.sh) without touching it.
# Idempotent; prints its DOCKER_HOST on stdout. Needs root.
set -euo pipefail

log() { echo "env/docker26: $*" >&2; }

state=/run/aws-app-docker26
data=/var/lib/aws-app-docker26
host="unix://$state/docker.sock"
bridge=awsapp26
subnet=172.29.0.0/24
gateway=172.29.0.1/24
engines=/var/cache/aws-app/engines

ping_ok() { DOCKER_HOST=$host "$root/usr/bin/docker" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# --- the packages ------------------------------------------------------------------------------
arch=$(dpkg --print-architecture)
root=$(ls -d "$engines"/trixie-"$arch"-* 2>/dev/null | grep -v '\.part$' | tail -n1 || true)
if [ -z "$root" ] || [ ! -x "$root/usr/sbin/dockerd" ]; then
  command -v runc >/dev/null 2>&1 || {
    log "installing runc"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null
  }
  mirror=$("$(dirname "${BASH_SOURCE[0]}")/debian-mirror.sh")
  work=$(mktemp -d /var/tmp/aws-app-docker26.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  log "reading trixie's package index from $mirror"
  curl -fsS "$mirror/dists/trixie/main/binary-$arch/Packages.xz" | xz -dc > "$work/Packages"
  field() { # package field
    awk -v p="$1" -v f="$2" 'BEGIN {RS = ""; FS = "\n"}
      $1 == "Package: " p {for (i = 1; i <= NF; i++) if (index($i, f ": ") == 1) print substr($i, length(f) + 3)}' \
      "$work/Packages" | head -n1
  }
  version=$(field docker.io Version)
  [ -n "$version" ] || { log "no docker.io in trixie's index"; exit 1; }
  root="$engines/trixie-$arch-${version//[^A-Za-z0-9.+-]/_}"
  rm -rf "$root.part" && mkdir -p "$root.part"
  for package in docker.io docker-cli containerd; do
    file=$(field "$package" Filename)
    sum=$(field "$package" SHA256)
    log "fetching $package $(field "$package" Version)"
    curl -fsS -o "$work/$package.deb" "$mirror/$file"
    echo "$sum  $work/$package.deb" | sha256sum -c --quiet - \
      || { log "$package: the file does not match trixie's index"; exit 1; }
    dpkg-deb -x "$work/$package.deb" "$root.part"
  done
  rm -rf "$root" && mv "$root.part" "$root"
fi
export PATH="$root/usr/bin:$root/usr/sbin:$PATH"

# It must be what the tests say it is: the containerd image store, and no API below 1.44.
check_engine() {
  local min drivers
  min=$(DOCKER_HOST=$host docker version --format '{{.Server.MinAPIVersion}}')
  drivers=$(DOCKER_HOST=$host docker info --format '{{json .DriverStatus}}')
  [ "$min" = 1.44 ] || { log "the engine at $host accepts API $min (want a minimum of 1.44)"; exit 1; }
  [[ "$drivers" == *io.containerd.snapshotter.v1* ]] \
    || { log "the engine at $host does not keep images in the containerd store: $drivers"; exit 1; }
}

if ping_ok; then
  check_engine
  log "engine answers ($(DOCKER_HOST=$host docker version --format '{{.Server.Version}} API {{.Server.APIVersion}} (min {{.Server.MinAPIVersion}})'))"
  echo "$host"
  exit 0
fi

# --- its network: a bridge of its own, NAT for it --------------------------------------------
if ! ip link show "$bridge" >/dev/null 2>&1; then
  ip link add name "$bridge" type bridge
  ip addr add "$gateway" dev "$bridge"
fi
ip link set "$bridge" up
echo 1 > /proc/sys/net/ipv4/ip_forward
ensure() { # table chain rule...
  local table=$1 chain=$2; shift 2
  iptables -t "$table" -C "$chain" "$@" 2>/dev/null || iptables -t "$table" -I "$chain" "$@"
}
ensure nat POSTROUTING -s "$subnet" ! -o "$bridge" -j MASQUERADE
ensure filter FORWARD -i "$bridge" -j ACCEPT
ensure filter FORWARD -o "$bridge" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT

# --- containerd and dockerd ----------------------------------------------------------------------
mkdir -p "$state" "$data"
cat > "$state/containerd.toml" <<EOF
version = 2
root = "$data/containerd"
state = "$state/containerd"
[grpc]
  address = "$state/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  disable = true
EOF
cat > "$state/daemon.json" <<EOF
{"features": {"containerd-snapshotter": true}}
EOF
if [ ! -S "$state/containerd.sock" ] || ! ctr --address "$state/containerd.sock" version >/dev/null 2>&1; then
  log "starting containerd (log: $state/containerd.log)"
  setsid containerd --config "$state/containerd.toml" >"$state/containerd.log" 2>&1 < /dev/null &
  for _ in $(seq 1 30); do
    ctr --address "$state/containerd.sock" version >/dev/null 2>&1 && break
    sleep 1
  done
fi
log "starting dockerd (log: $state/dockerd.log)"
DOCKER_MIN_API_VERSION=1.44 setsid dockerd \
  --config-file "$state/daemon.json" --containerd "$state/containerd.sock" \
  --data-root "$data/docker" --exec-root "$state/exec" --pidfile "$state/docker.pid" \
  -H "$host" --bridge "$bridge" --iptables=false --ip-masq=false \
  >"$state/dockerd.log" 2>&1 < /dev/null &
for _ in $(seq 1 60); do
  ping_ok && break
  sleep 1
done
ping_ok || { log "dockerd did not answer within 60 s"; tail -n 20 "$state/dockerd.log" >&2; exit 1; }
check_engine
log "engine answers ($(DOCKER_HOST=$host docker version --format '{{.Server.Version}} API {{.Server.APIVersion}} (min {{.Server.MinAPIVersion}})'))"
echo "$host"
