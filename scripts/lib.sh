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
ensure_apt() { # ensure_apt pkg...: installs the Debian packages that are not installed yet
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  log "installing with apt: ${missing[*]}"
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
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

ensure_container_tools() { ensure_apt containerd runc busybox-static; }
