#!/usr/bin/env bash
# `npm run compose:images`: makes the base images the compose deployment's Dockerfiles name
# (deploy/*.Dockerfile) exist in the Docker daemon that docker-compose will use, without an
# image registry, and starts a private dockerd first when no daemon answers.
#
#   debian:bookworm-slim   `debootstrap --variant=minbase bookworm`, imported with `docker import`
#   node:20-bookworm-slim  that Debian plus this machine's own `node` and npm, laid out as the
#                          official image lays them out (/usr/local/bin/node, npm, npx), and the
#                          CA bundle node trusts here (NODE_EXTRA_CA_CERTS or npm's cafile), if
#                          any, so that npm reaches the registry through this machine's proxy
#
# On a machine that can reach Docker Hub the command is not needed: the build pulls the
# official images of the same names. Idempotent: an image that already exists is kept (pass
# --rebuild to make both again).
#
# Which daemon:
#   1. $DOCKER_HOST, when set and answering;
#   2. the system dockerd at /var/run/docker.sock, when it answers;
#   3. else a private dockerd (Debian's docker.io) on its own socket, directories and containerd:
#        API         unix:///run/shoal-compose/docker.sock
#        data root   /var/lib/shoal-compose/docker      exec root /run/shoal-compose/docker
#        containerd  /run/shoal-compose/containerd/containerd.sock, root /var/lib/shoal-compose/containerd
#        log         /var/log/shoal-compose/dockerd.log (containerd.log beside it)
#      It never uses the system containerd at /run/containerd/containerd.sock (dockerd would
#      adopt that one when not given --containerd). It runs with --iptables=false
#      --bridge=none: compose makes its own bridge network, on which container-to-container
#      traffic and published ports (through docker-proxy) work without iptables rules; builds
#      use `network: host`; and the machine's firewall, FORWARD policy and docker0 stay as
#      they are for everything else that runs here. Containers get no route out (no NAT).
# The last line printed is the `export DOCKER_HOST=…` to use with docker-compose.
#
# SHOAL_COMPOSE_RUN_DIR, SHOAL_COMPOSE_LIB_DIR and SHOAL_COMPOSE_LOG_DIR move the private
# daemon's directories (and its socket, $SHOAL_COMPOSE_RUN_DIR/docker.sock).
# Usage: bash scripts/compose-images.sh [--rebuild] [--no-daemon-start]
#        bash scripts/compose-images.sh --stop-daemon   # stops the private dockerd and its containerd
# Needs root for the private dockerd and debootstrap; installs docker.io, docker-compose and
# debootstrap with apt when missing.
source "$(dirname "$0")/lib.sh"

# Overridable for a second private daemon beside the first (keep the run directory short:
# socket paths below it must stay under 108 bytes).
COMPOSE_RUN="${SHOAL_COMPOSE_RUN_DIR:-/run/shoal-compose}"
COMPOSE_LIB="${SHOAL_COMPOSE_LIB_DIR:-/var/lib/shoal-compose}"
COMPOSE_LOG="${SHOAL_COMPOSE_LOG_DIR:-/var/log/shoal-compose}"
PRIVATE_SOCKET="$COMPOSE_RUN/docker.sock"
PRIVATE_PIDFILE="$COMPOSE_RUN/docker.pid"
CTRD_DIR="$COMPOSE_RUN/containerd"
CTRD_SOCKET="$CTRD_DIR/containerd.sock"
CTRD_PIDFILE="$COMPOSE_RUN/containerd.pid"
DEBIAN_IMAGE=debian:bookworm-slim
NODE_IMAGE=node:20-bookworm-slim
DEBIAN_MIRROR="${SHOAL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DOCKER=/usr/bin/docker # Debian's client, by path: another `docker` may come first on PATH

rebuild=0 start_daemon=1 stop_daemon=0
for a in "$@"; do
  case "$a" in
    --rebuild) rebuild=1 ;;
    --no-daemon-start) start_daemon=0 ;;
    --stop-daemon) stop_daemon=1 ;;
    *) die "unknown argument $a (usage: compose-images.sh [--rebuild] [--no-daemon-start] | --stop-daemon)" ;;
  esac
done

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
docker_answers() { timeout 10 "$DOCKER" -H "$1" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

stop_private_daemon() {
  local pid
  if pid_alive "$PRIVATE_PIDFILE"; then
    pid="$(cat "$PRIVATE_PIDFILE")"
    log "stopping the private dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { log "dockerd did not stop within 30 s: SIGKILL"; kill -KILL "$pid"; }
  fi
  if pid_alive "$CTRD_PIDFILE"; then
    pid="$(cat "$CTRD_PIDFILE")"
    log "stopping the private dockerd's containerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$PRIVATE_PIDFILE" "$CTRD_PIDFILE"
  # What a killed dockerd can leave: its containers' netns files and shm mounts.
  local left; left="$(mounts_under "$COMPOSE_RUN"; mounts_under "$COMPOSE_LIB")"
  if [ -n "$left" ]; then
    log "unmounting what the private dockerd left: $(echo "$left" | tr '\n' ' ')"
    echo "$left" | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  fi
  # The cgroup parent dockerd made (--cgroup-parent), empty once its containers are gone.
  local cg="$(basename "$COMPOSE_RUN")-docker"
  for d in /sys/fs/cgroup/*/"$cg" /sys/fs/cgroup/"$cg"; do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  log "private dockerd stopped (its images stay in $COMPOSE_LIB/docker; remove that directory to drop them)"
}

if [ "$stop_daemon" = 1 ]; then
  [ "$(id -u)" = 0 ] || die "--stop-daemon needs root"
  stop_private_daemon
  exit 0
fi

# Starts containerd and dockerd on the private paths above; returns once dockerd answers.
start_private_daemon() {
  command -v containerd >/dev/null || ensure_apt containerd
  mkdir -p "$CTRD_DIR/state" "$COMPOSE_LIB/containerd" "$COMPOSE_LIB/docker" "$COMPOSE_RUN/docker" "$COMPOSE_LOG"
  cat >"$CTRD_DIR/config.toml" <<TOML
version = 2
root = "$COMPOSE_LIB/containerd"
state = "$CTRD_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$CTRD_SOCKET"

[ttrpc]
  address = "$CTRD_SOCKET.ttrpc"
TOML
  if ! pid_alive "$CTRD_PIDFILE"; then
    log "starting the private dockerd's containerd on $CTRD_SOCKET"
    setsid containerd --config "$CTRD_DIR/config.toml" >>"$COMPOSE_LOG/containerd.log" 2>&1 </dev/null &
    echo $! >"$CTRD_PIDFILE"
  fi
  for _ in $(seq 1 60); do containerd_answers "$CTRD_SOCKET" && break; sleep 0.5; done
  containerd_answers "$CTRD_SOCKET" || { tail -n 20 "$COMPOSE_LOG/containerd.log" >&2; die "the private containerd did not answer on $CTRD_SOCKET (log: $COMPOSE_LOG/containerd.log)"; }

  log "starting a private dockerd on unix://$PRIVATE_SOCKET (log: $COMPOSE_LOG/dockerd.log)"
  setsid /usr/sbin/dockerd \
    --data-root "$COMPOSE_LIB/docker" \
    --exec-root "$COMPOSE_RUN/docker" \
    -H "unix://$PRIVATE_SOCKET" \
    --containerd "$CTRD_SOCKET" \
    --pidfile "$PRIVATE_PIDFILE" \
    --iptables=false --ip-masq=false --bridge=none \
    --cgroup-parent "/$(basename "$COMPOSE_RUN")-docker" \
    --log-level warn \
    >>"$COMPOSE_LOG/dockerd.log" 2>&1 </dev/null &
  local pid=$!
  for _ in $(seq 1 120); do
    docker_answers "unix://$PRIVATE_SOCKET" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  tail -n 20 "$COMPOSE_LOG/dockerd.log" >&2 || true
  die "the private dockerd did not answer on $PRIVATE_SOCKET (log: $COMPOSE_LOG/dockerd.log)"
}

# ---- tools -------------------------------------------------------------------------------
[ -x /usr/sbin/dockerd ] && [ -x "$DOCKER" ] || ensure_apt docker.io
command -v docker-compose >/dev/null || ensure_apt docker-compose
command -v debootstrap >/dev/null || ensure_apt debootstrap

# ---- daemon ------------------------------------------------------------------------------
if [ -n "${DOCKER_HOST:-}" ] && docker_answers "$DOCKER_HOST"; then
  host="$DOCKER_HOST"; which="the daemon at \$DOCKER_HOST"
elif docker_answers unix:///var/run/docker.sock; then
  host=unix:///var/run/docker.sock; which="the system dockerd"
elif docker_answers "unix://$PRIVATE_SOCKET"; then
  host="unix://$PRIVATE_SOCKET"; which="Shoal's private compose dockerd (already running)"
else
  [ -n "${DOCKER_HOST:-}" ] && log "DOCKER_HOST=$DOCKER_HOST does not answer"
  [ "$start_daemon" = 1 ] || die "no docker daemon answers (DOCKER_HOST, /var/run/docker.sock, $PRIVATE_SOCKET) and --no-daemon-start was given"
  [ "$(id -u)" = 0 ] || die "no docker daemon answers, and starting a private one needs root"
  start_private_daemon
  host="unix://$PRIVATE_SOCKET"; which="Shoal's private compose dockerd (started now; \`bash scripts/compose-images.sh --stop-daemon\` stops it)"
fi
export DOCKER_HOST="$host"
log "docker daemon: $which, $host"

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# ---- debian:bookworm-slim ----------------------------------------------------------------
if [ "$rebuild" = 1 ] || ! have_image "$DEBIAN_IMAGE"; then
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  work="$(mktemp -d "${TMPDIR:-/var/tmp}/shoal-debian.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  log "debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR (a few minutes)"
  debootstrap --variant=minbase bookworm "$work/rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 || {
    tail -n 20 "$work/debootstrap.log" >&2
    die "debootstrap failed"
  }
  r="$work/rootfs"
  # As the official slim image: apt sources for bookworm, its updates and security, no
  # downloaded lists or packages, no docs or man pages from later installs.
  rm -f "$r/etc/apt/sources.list"
  cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $DEBIAN_MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${DEBIAN_MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  cat >"$r/etc/dpkg/dpkg.cfg.d/docker-slim" <<EOF
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  cat >"$r/etc/apt/apt.conf.d/docker-clean" <<EOF
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
EOF
  echo 'APT::Install-Recommends "false";' >"$r/etc/apt/apt.conf.d/docker-no-recommends"
  rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/lib/apt/lists/"* "$r/var/log/"*.log "$r/usr/share/doc" "$r/usr/share/man"
  : >"$r/etc/hostname"; : >"$r/etc/resolv.conf"
  log "importing $DEBIAN_IMAGE"
  tar --numeric-owner -C "$r" -c . | "$DOCKER" import \
    -c 'CMD ["bash"]' -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -m "stand-in for Docker Hub's $DEBIAN_IMAGE: debootstrap --variant=minbase bookworm (scripts/compose-images.sh)" \
    - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$work"; trap - EXIT
else
  log "$DEBIAN_IMAGE: present"
fi

# ---- node:20-bookworm-slim ---------------------------------------------------------------
if [ "$rebuild" = 1 ] || ! have_image "$NODE_IMAGE"; then
  ensure_node
  node_bin="$(readlink -f "$(command -v node)")"
  [ "$(node -p 'process.versions.node.split(".")[0]')" = 20 ] || die "the $NODE_IMAGE stand-in needs this machine's node to be Node 20 (found $(node --version))"
  npm_dir="$(npm root -g 2>/dev/null)/npm"
  [ -f "$npm_dir/bin/npm-cli.js" ] || die "npm is not installed beside node (looked in $npm_dir)"
  work="$(mktemp -d "${TMPDIR:-/var/tmp}/shoal-node.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/usr/local/bin" "$work/usr/local/lib/node_modules"
  cp "$node_bin" "$work/usr/local/bin/node"
  cp -a "$npm_dir" "$work/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$work/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$work/usr/local/bin/npx"
  # This machine's extra trust anchors (a TLS-inspecting egress proxy's CA), when node here
  # is given some: without them npm cannot reach the registry from a build either.
  ca_env=""
  ca_src="${NODE_EXTRA_CA_CERTS:-}"
  [ -n "$ca_src" ] || ca_src="$(npm config get cafile 2>/dev/null || true)"
  if [ -n "$ca_src" ] && [ "$ca_src" != null ] && [ -r "$ca_src" ]; then
    mkdir -p "$work/usr/local/etc/shoal"
    cp "$ca_src" "$work/usr/local/etc/shoal/build-machine-ca.pem"
    ca_env="ENV NODE_EXTRA_CA_CERTS=/usr/local/etc/shoal/build-machine-ca.pem"
    log "$NODE_IMAGE stand-in trusts this machine's CA bundle ($ca_src), as node here does"
  fi
  cat >"$work/Dockerfile" <<EOF
FROM $DEBIAN_IMAGE
COPY usr/local /usr/local
ENV NODE_VERSION=$(node -p process.versions.node)
$ca_env
CMD ["node"]
LABEL org.opencontainers.image.description="stand-in for Docker Hub's $NODE_IMAGE: $DEBIAN_IMAGE plus the build machine's node $(node --version) and npm (scripts/compose-images.sh)"
EOF
  log "building $NODE_IMAGE (node $(node --version) from $node_bin)"
  "$DOCKER" build -q -t "$NODE_IMAGE" "$work" >/dev/null || die "docker build of $NODE_IMAGE failed"
  # Check it runs: the libraries node links against are in the Debian base.
  "$DOCKER" run --rm --network none "$NODE_IMAGE" node -e 'process.exit(0)' || die "node does not run in $NODE_IMAGE"
  rm -rf "$work"; trap - EXIT
else
  log "$NODE_IMAGE: present"
fi

log "images ready: $DEBIAN_IMAGE, $NODE_IMAGE"
log "next: DOCKER_HOST=$host docker-compose up -d --build --scale agent=3"
echo "export DOCKER_HOST=$host"
