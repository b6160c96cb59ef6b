#!/usr/bin/env bash
# `npm start`: the whole Shoal stack on this machine, in the background.
#  1. installs what is missing (apt: postgresql, nats-server, containerd, runc, busybox-static;
#     pnpm; workspace deps),
#  2. starts Postgres, NATS and containerd only when none answers (the system containerd at
#     /run/containerd/containerd.sock is used when it answers, else Shoal's own at
#     /run/shoal/containerd/containerd.sock),
#  3. builds the service bundles and the CLI (one compiled executable), migrates the database,
#  4. starts api, scheduler, mount-manager and one runtime agent (host `hostname -s`),
#  5. links /usr/local/bin/shoal to the compiled CLI (services/cli/dist/shoal), writes the
#     quick start's image archive ($SHOAL_STATE_ROOT/images/busybox.tar), and returns
#     once the api's gRPC health is SERVING and the agent's host is listed as ready by
#     `shoal hosts`.
# Idempotent: when the stack is already up it says so and exits 0. Pid files and markers in
# /run/shoal, logs in /var/log/shoal, state in /var/lib/shoal. `npm stop` undoes it.
# Overrides (used by test/e2e/local-stack.e2e.test.ts to run a second stack beside yours):
# SHOAL_RUN_DIR, SHOAL_STATE_ROOT, SHOAL_LOG_DIR, SHOAL_DATABASE_URL, SHOAL_SUBJECT_PREFIX,
# SHOAL_API_ADDR, SHOAL_METRICS_PORTS ("api scheduler mount-manager agent"), SHOAL_HOST,
# SHOAL_BIN_LINK.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || die "npm start runs the stack as root (mounts, containerd): run it as root"
ensure_node
host="$(stack_host)"
export SHOAL_ADDR="$SHOAL_API_ADDR"

stack_healthy() {
  for s in "${SHOAL_SERVICES[@]}"; do service_pid "$s" >/dev/null || return 1; done
  node "$SHOAL_ROOT/scripts/grpc-health.mjs" "$SHOAL_API_ADDR" 2>/dev/null || return 1
  host_ready
}
host_ready() {
  "$SHOAL_ROOT/services/cli/bin/shoal" hosts --format json 2>/dev/null |
    grep -F "\"$host\"" | grep -q '"ready"'
}

if [ -f "$SHOAL_ROOT/services/api/dist/main.mjs" ] && stack_healthy; then
  log "Shoal is already running (api $SHOAL_API_ADDR, host $host); \`npm stop\` stops it"
  exit 0
fi

ensure_postgres
ensure_nats
ensure_container_tools
ensure_deps
containerd_socket="$(ensure_containerd)"

cd "$SHOAL_ROOT"
log "build: service bundles and the CLI"
node scripts/build.mjs >/dev/null || die "build failed (node scripts/build.mjs)"
log "migrate"
pnpm run --silent migrate || die "migration failed"

common=(
  "PATH=$PATH"
  "SHOAL_DATABASE_URL=$SHOAL_DATABASE_URL"
  "SHOAL_NATS_URL=$SHOAL_NATS_URL"
  "SHOAL_SUBJECT_PREFIX=$SHOAL_SUBJECT_PREFIX"
)
fail_with_log() { # fail_with_log SERVICE MESSAGE
  tail -n 20 "$SHOAL_LOG_DIR/$1.log" >&2 2>/dev/null || true
  die "$2 (log: $SHOAL_LOG_DIR/$1.log; \`npm stop\` cleans up)"
}

# The api first: it runs the outbox relay and creates the streams the others consume.
start_service api "${common[@]}" "SHOAL_API_ADDR=$SHOAL_API_ADDR" "SHOAL_METRICS_PORT=${SHOAL_METRICS_PORTS[0]}"
wait_for "api health" 60 node scripts/grpc-health.mjs "$SHOAL_API_ADDR" ||
  fail_with_log api "the api did not report SERVING on $SHOAL_API_ADDR within 60 s"
start_service scheduler "${common[@]}" "SHOAL_METRICS_PORT=${SHOAL_METRICS_PORTS[1]}"
start_service mount-manager "${common[@]}" "SHOAL_METRICS_PORT=${SHOAL_METRICS_PORTS[2]}"
start_service runtime-agent "${common[@]}" "SHOAL_METRICS_PORT=${SHOAL_METRICS_PORTS[3]}" "SHOAL_HOST=$host" \
  "SHOAL_CONTAINERD_SOCKET=$containerd_socket" "SHOAL_STATE_ROOT=$SHOAL_STATE_ROOT" "SHOAL_RUN_DIR=$SHOAL_RUN_DIR/$host"
if ! wait_for "host $host ready" 60 host_ready; then
  for s in "${SHOAL_SERVICES[@]}"; do service_pid "$s" >/dev/null || fail_with_log "$s" "$s exited while starting"; done
  fail_with_log runtime-agent "host $host was not listed as ready by \`shoal hosts\` within 60 s"
fi
for s in "${SHOAL_SERVICES[@]}"; do service_pid "$s" >/dev/null || fail_with_log "$s" "$s exited while starting"; done

# `shoal` on the PATH: a link to the compiled executable (built above), unless something
# else already owns that name. A link an earlier `npm start` made to another target (the
# sh launcher, before the CLI was compiled) is Shoal's own and is pointed at the executable.
target="$SHOAL_ROOT/services/cli/dist/shoal"
link_marker="$SHOAL_RUN_DIR/shoal-link.created-by-shoal"
if [ -L "$SHOAL_BIN_LINK" ] && [ "$(readlink "$SHOAL_BIN_LINK")" = "$target" ]; then
  :
elif [ -L "$SHOAL_BIN_LINK" ] && [ -f "$link_marker" ] && [ "$(readlink "$SHOAL_BIN_LINK")" = "$(cat "$link_marker")" ]; then
  ln -sfn "$target" "$SHOAL_BIN_LINK"
  echo "$target" >"$link_marker"
elif [ -e "$SHOAL_BIN_LINK" ] || [ -L "$SHOAL_BIN_LINK" ]; then
  log "warning: $SHOAL_BIN_LINK exists and is not Shoal's; left alone (run $target directly)"
else
  ln -s "$target" "$SHOAL_BIN_LINK"
  echo "$target" >"$link_marker"
fi

# The quick start's image (no registry is reachable from here): busybox as a `docker save`
# archive, loaded with `shoal load -i`.
busybox_tar="$SHOAL_STATE_ROOT/images/busybox.tar"
[ -f "$busybox_tar" ] || pnpm exec tsx scripts/busybox-image.ts "$busybox_tar" >/dev/null ||
  die "could not make the quick start's busybox image at $busybox_tar"

log "up: api $SHOAL_API_ADDR (metrics ${SHOAL_METRICS_PORTS[*]}), host $host on containerd $containerd_socket"
log "try: shoal load -i $busybox_tar && shoal run --rm busybox echo hello"
