# Shared setup steps for start.sh, test.sh and .ci/run. Each step is idempotent:
# it installs or starts something only when it is missing, and reuses Postgres,
# NATS and containerd where they already answer.
set -euo pipefail

SHOAL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHOAL_RUN_DIR="${SHOAL_RUN_DIR:-/run/shoal}"
SHOAL_STATE_ROOT="${SHOAL_STATE_ROOT:-/var/lib/shoal}"
PNPM_VERSION="10.34.9"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
export SHOAL_NATS_URL="${SHOAL_NATS_URL:-nats://127.0.0.1:4222}"

log() { printf '[shoal] %s\n' "$*" >&2; }
die() { printf '[shoal] error: %s\n' "$*" >&2; exit 1; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_node() {
  command -v node >/dev/null || die "Node.js 20 or newer is required on PATH"
  local major; major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || die "Node.js 20 or newer is required (found $(node --version))"
}

APT_UPDATED=0
# ensure_apt pkg...: installs the Debian packages that are not installed yet, without their
# Recommends (only what each package needs to work: `prometheus`, wanted for promtool, would
# otherwise bring prometheus-node-exporter, and runc Debian's criu, which fails on these kernels).
ensure_apt() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing with apt: ${missing[*]}"
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_pnpm() {
  if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
    log "installing pnpm $PNPM_VERSION from the npm registry"
    npm install -g "pnpm@$PNPM_VERSION" >/dev/null 2>&1 || die "npm install -g pnpm@$PNPM_VERSION failed"
  fi
}

ensure_deps() {
  ensure_pnpm
  (cd "$SHOAL_ROOT" && pnpm install --frozen-lockfile --reporter=silent) || die "pnpm install failed"
}

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

ensure_postgres() {
  if tcp_open "$PGHOST" "$PGPORT"; then
    ensure_apt postgresql-client
    pg_answers || die "something answers on $PGHOST:$PGPORT but not as PostgreSQL accepting user $PGUSER with trust auth"
    return 0
  fi
  ensure_apt postgresql postgresql-client
  local ver; ver="$(ls /etc/postgresql | sort -n | tail -1)"
  local hba="/etc/postgresql/$ver/main/pg_hba.conf"
  # A Shoal-started cluster must accept the local trust connections the stack uses.
  if ! grep -q '^# shoal: trust loopback' "$hba"; then
    log "allowing trust auth on 127.0.0.1 in $hba"
    as_root sed -i '1i # shoal: trust loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting PostgreSQL $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
  mkdir -p "$SHOAL_RUN_DIR" && echo "$ver" >"$SHOAL_RUN_DIR/postgres.started-by-shoal"
  for _ in $(seq 1 60); do pg_answers && return 0; sleep 0.5; done
  die "PostgreSQL did not answer on $PGHOST:$PGPORT"
}
pg_answers() { command -v pg_isready >/dev/null && pg_isready -q -h "$PGHOST" -p "$PGPORT" && psql -qtA -c 'select 1' postgres >/dev/null 2>&1; }

ensure_nats() {
  if tcp_open 127.0.0.1 4222; then return 0; fi
  ensure_apt nats-server
  mkdir -p "$SHOAL_RUN_DIR" "$SHOAL_STATE_ROOT/nats"
  log "starting nats-server with JetStream"
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile "$SHOAL_RUN_DIR/nats.pid" \
    --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd "$SHOAL_STATE_ROOT/nats" -l "$SHOAL_RUN_DIR/nats.log"
  echo started >"$SHOAL_RUN_DIR/nats.started-by-shoal"
  for _ in $(seq 1 60); do tcp_open 127.0.0.1 4222 && return 0; sleep 0.5; done
  die "nats-server did not answer on 127.0.0.1:4222"
}

# gcc + libc6-dev: the agent tests compile a tiny static System V shm helper into the busybox rootfs.
# procps: the agent runs ps(1) for `shoal top`, as dockerd does.
# iproute2: the fleet tests' hosts are network namespaces joined by veths (`ip netns`, `ip link`).
ensure_container_tools() { ensure_apt containerd runc busybox-static gcc libc6-dev procps iproute2; ensure_criu; }

# CRIU for checkpoints, at least CRIU_MIN and with Shoal's patches (scripts/criu/*.patch, see
# scripts/criu/README.md): Debian 12's 3.17 fails on these kernels ("vDSO area bounds") and 4.1.1
# hangs in its parasite (containerd-notes.md). CRIU_BIN is kept when it is >= CRIU_MIN, passes
# `criu check` and its stamp CRIU_STAMP holds the sha256 of the current patch set; otherwise the
# newest version Debian's source mirror offers at or above CRIU_MIN is built from its source
# tarball (a deb-src line for sid; only the .orig.tar.xz is needed) with every patch applied in
# name order, checked, and installed as CRIU_BIN (renamed into place; runc finds it on PATH
# first), then the stamp is written. About 30 s. Dies naming the step that failed, and naming
# the patch when one does not apply to the version offered.
CRIU_MIN=4.2
CRIU_BIN=/usr/local/sbin/criu
CRIU_STAMP="$CRIU_BIN.shoal-patches"
CRIU_PATCH_DIR="$SHOAL_ROOT/scripts/criu"
criu_works() { # criu_works BINARY: prints the version of BINARY when it runs, is >= CRIU_MIN and passes `criu check`
  local v
  v="$("$1" --version 2>/dev/null | awk '/^Version:/ { print $2 }')"
  [ -n "$v" ] && dpkg --compare-versions "$v" ge "$CRIU_MIN" && "$1" check >/dev/null 2>&1 && echo "$v"
}
criu_patch_set() { # prints the sha256 of the patch set: each patch's name and sha256, in name order
  (cd "$CRIU_PATCH_DIR" && for p in *.patch; do [ -f "$p" ] || continue; sha256sum -- "$p"; done) | sha256sum | cut -c1-64
}
ensure_criu() {
  local have patch_set stamp
  patch_set="$(criu_patch_set)"
  stamp="$(cat "$CRIU_STAMP" 2>/dev/null || true)"
  if have="$(criu_works "$CRIU_BIN")" && [ "$stamp" = "$patch_set" ]; then return 0; fi
  log "building CRIU >= $CRIU_MIN with scripts/criu/*.patch from Debian's source ($CRIU_BIN: version ${have:-none working}, patch set ${stamp:-none}, wanted $patch_set)"
  local sources=/etc/apt/sources.list.d/shoal-criu-src.sources
  if [ ! -f "$sources" ]; then
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: sid\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
      as_root tee "$sources" >/dev/null
    APT_UPDATED=0
  fi
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  local version
  version="$(apt-cache showsrc criu 2>/dev/null | awk '/^Version:/ { print $2 }' | while read -r v; do
    dpkg --compare-versions "$v" ge "$CRIU_MIN" && echo "$v"; done | sort -V | tail -n 1)"
  [ -n "$version" ] || die "no CRIU source at or above $CRIU_MIN on Debian's mirror (apt-cache showsrc criu); checkpoints need it"
  ensure_apt libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler python3-protobuf libnl-3-dev \
    libcap-dev libnet1-dev pkg-config libbsd-dev libaio-dev libgnutls28-dev xz-utils make gcc patch
  local dir
  dir="$(mktemp -d /tmp/shoal-criu.XXXXXX)"
  # The .debian.tar.xz part may answer 404 while the .orig.tar.xz downloads: only the latter is needed.
  (cd "$dir" && apt-get source --download-only "criu=$version" >/dev/null 2>&1) || true
  local orig
  orig="$(ls "$dir"/criu_*.orig.tar.* 2>/dev/null | head -n 1)"
  [ -n "$orig" ] || die "could not download CRIU $version's source from Debian's mirror (apt-get source --download-only criu=$version)"
  tar -C "$dir" -xf "$orig" || die "could not unpack $orig"
  local src p
  src="$(find "$dir" -mindepth 1 -maxdepth 1 -type d -name 'criu-*' | head -n 1)"
  for p in "$CRIU_PATCH_DIR"/*.patch; do
    [ -f "$p" ] || continue
    patch -d "$src" -p1 --forward --batch <"$p" >"$dir/patch.log" 2>&1 ||
      { cat "$dir/patch.log" >&2; die "scripts/criu/$(basename "$p") does not apply to CRIU $version (log: $dir/patch.log); update the patch for this version"; }
  done
  make -C "$src" -j"$(nproc)" criu >"$dir/make.log" 2>&1 || { tail -n 20 "$dir/make.log" >&2; die "building CRIU $version failed (log: $dir/make.log)"; }
  have="$(criu_works "$src/criu/criu")" || die "CRIU $version was built but \`criu check\` fails: $("$src/criu/criu" check 2>&1 | tail -n 3)"
  # Renamed into place, so a checkpoint running meanwhile finds the old binary or the new one.
  as_root install -m 0755 "$src/criu/criu" "$CRIU_BIN.new" && as_root mv -f "$CRIU_BIN.new" "$CRIU_BIN" ||
    die "could not install CRIU $version as $CRIU_BIN"
  echo "$patch_set" | as_root tee "$CRIU_STAMP" >/dev/null || die "could not write $CRIU_STAMP"
  rm -rf "$dir"
  log "CRIU $have with patch set $patch_set installed at $CRIU_BIN"
}

# What only the tests use: promtool (Debian ships it in `prometheus`; the metrics e2e test runs
# `promtool check metrics` on every service's /metrics) and apparmor_parser (`apparmor`; the
# default AppArmor profile must compile, even on these kernels with AppArmor off).
ensure_test_tools() { ensure_apt prometheus apparmor; ensure_registry_tools; }

# A real registry for the image tests (@shoal/testing startRegistry): Debian's docker-registry
# (distribution 2.8) and htpasswd -B from apache2-utils for its Basic auth.
ensure_registry_tools() { ensure_apt docker-registry apache2-utils; }

# ---- The local stack (start.sh / stop.sh) ------------------------------------------------
# Layout: pid files and markers in $SHOAL_RUN_DIR (/run/shoal), logs in $SHOAL_LOG_DIR
# (/var/log/shoal), state in $SHOAL_STATE_ROOT (/var/lib/shoal). A "<thing>.started-by-shoal"
# marker records what Shoal started, so stop.sh stops only that.
SHOAL_LOG_DIR="${SHOAL_LOG_DIR:-/var/log/shoal}"
SHOAL_SERVICES=(api scheduler mount-manager runtime-agent)
SYSTEM_CONTAINERD_SOCKET=/run/containerd/containerd.sock
SHOAL_CONTAINERD_DIR="$SHOAL_RUN_DIR/containerd"
SHOAL_BIN_LINK="${SHOAL_BIN_LINK:-/usr/local/bin/shoal}"
# Prometheus ports: api, scheduler, mount-manager, agent.
SHOAL_METRICS_PORTS=(${SHOAL_METRICS_PORTS:-9420 9421 9422 9423})
export SHOAL_DATABASE_URL="${SHOAL_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/shoal}"
export SHOAL_SUBJECT_PREFIX="${SHOAL_SUBJECT_PREFIX:-shoal}"
export SHOAL_API_ADDR="${SHOAL_API_ADDR:-127.0.0.1:7420}"

# The agent's host name: `hostname -s` made a subject token, else "local".
stack_host() {
  local h; h="$(hostname -s 2>/dev/null | tr -c 'A-Za-z0-9_\n-' '-' || true)"
  echo "${SHOAL_HOST:-${h:-local}}"
}

containerd_answers() { [ -S "$1" ] && timeout 5 ctr --address "$1" version >/dev/null 2>&1; }

# Prints the containerd socket the agent is to use: the system one when it answers, else
# Shoal's own instance (started here, CRI disabled, recorded as started by Shoal).
ensure_containerd() {
  if containerd_answers "$SYSTEM_CONTAINERD_SOCKET"; then echo "$SYSTEM_CONTAINERD_SOCKET"; return 0; fi
  local sock="$SHOAL_CONTAINERD_DIR/containerd.sock"
  if containerd_answers "$sock"; then echo "$sock"; return 0; fi
  command -v containerd >/dev/null || die "containerd is not installed (apt-get install containerd)"
  mkdir -p "$SHOAL_CONTAINERD_DIR/state" "$SHOAL_STATE_ROOT/containerd" "$SHOAL_LOG_DIR"
  cat >"$SHOAL_CONTAINERD_DIR/config.toml" <<TOML
version = 2
root = "$SHOAL_STATE_ROOT/containerd"
state = "$SHOAL_CONTAINERD_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"
TOML
  log "starting Shoal's own containerd on $sock (no system containerd answers at $SYSTEM_CONTAINERD_SOCKET)"
  start-stop-daemon --start --oknodo --background --make-pidfile --pidfile "$SHOAL_RUN_DIR/containerd.pid" \
    --output "$SHOAL_LOG_DIR/containerd.log" --exec "$(command -v containerd)" -- \
    --config "$SHOAL_CONTAINERD_DIR/config.toml" --root "$SHOAL_STATE_ROOT/containerd" \
    --state "$SHOAL_CONTAINERD_DIR/state" --address "$sock"
  echo started >"$SHOAL_RUN_DIR/containerd.started-by-shoal"
  for _ in $(seq 1 60); do containerd_answers "$sock" && { echo "$sock"; return 0; }; sleep 0.5; done
  tail -n 20 "$SHOAL_LOG_DIR/containerd.log" >&2 || true
  die "containerd did not answer on $sock (log: $SHOAL_LOG_DIR/containerd.log)"
}

service_pid() { # prints the pid of a running Shoal service, or fails
  local f="$SHOAL_RUN_DIR/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # The pid may have been reused by another process since: check it is ours.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "services/$1/dist/main.mjs" || return 1
  echo "$pid"
}

# start_service NAME VAR=VALUE...: runs services/NAME/dist/main.mjs in the background, in its
# own session, logging to $SHOAL_LOG_DIR/NAME.log; no-op when it already runs.
start_service() {
  local name="$1"; shift
  service_pid "$name" >/dev/null && return 0
  mkdir -p "$SHOAL_RUN_DIR" "$SHOAL_LOG_DIR"
  log "starting $name (log: $SHOAL_LOG_DIR/$name.log)"
  # A clean environment: only PATH and what the caller passes, so nothing of the caller's
  # shell leaks into a long-running service.
  (cd "$SHOAL_ROOT" && exec setsid env -i "$@" node --enable-source-maps "services/$name/dist/main.mjs" \
    >>"$SHOAL_LOG_DIR/$name.log" 2>&1 </dev/null) &
  echo $! >"$SHOAL_RUN_DIR/$name.pid"
}

# stop_service NAME [TIMEOUT]: SIGTERM, then SIGKILL after TIMEOUT seconds (default 15).
stop_service() {
  local name="$1" timeout="${2:-15}" pid
  if pid="$(service_pid "$name")"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $((timeout * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop within ${timeout}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$SHOAL_RUN_DIR/$name.pid"
}

# wait_for WHAT SECONDS CMD...: polls CMD every 0.5 s; dies naming WHAT when it never succeeds.
wait_for() {
  local what="$1" secs="$2"; shift 2
  for _ in $(seq 1 $((secs * 2))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}

# Mount points below $1 from /proc/self/mountinfo (octal escapes decoded), deepest first.
mounts_under() {
  awk -v root="$1" '{ p = $5; gsub(/\\040/, " ", p); if (index(p, root "/") == 1) print p }' /proc/self/mountinfo | awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2-
}
