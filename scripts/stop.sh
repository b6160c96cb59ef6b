#!/usr/bin/env bash
# `npm stop`: stops what `npm start` started, and nothing it found already running.
#  - stops the containers still running (so their shm mounts are released), then the four
#    services: SIGTERM, SIGKILL after 15 s;
#  - stops containerd, NATS and Postgres only when Shoal started them;
#  - unmounts whatever is still mounted under the state root (checked in /proc/self/mountinfo);
#  - removes /usr/local/bin/shoal only when it is Shoal's link.
source "$(dirname "$0")/lib.sh"
host="$(stack_host)"
export SHOAL_ADDR="$SHOAL_API_ADDR"
shoal_cli="$SHOAL_ROOT/services/cli/dist/shoal"

# Running containers first, while the control plane can still release their mounts.
if service_pid api >/dev/null && [ -x "$shoal_cli" ]; then
  running="$("$shoal_cli" ps -q 2>/dev/null || true)"
  if [ -n "$running" ]; then
    log "stopping running containers: $(echo "$running" | wc -l)"
    # shellcheck disable=SC2086
    "$shoal_cli" stop -t 5 $running >/dev/null 2>&1 || log "warning: some containers did not stop cleanly"
    # The mount-manager unmounts an owner's shm once its group has exited.
    wait_for "shm mounts released" 15 bash -c "! grep -q ' $SHOAL_STATE_ROOT/containers/[^ ]*/mounts/shm ' /proc/self/mountinfo" || true
  fi
fi

# The agent last: it answers the others' host commands until they are gone.
for s in api scheduler mount-manager runtime-agent; do stop_service "$s"; done

if [ -f "$SHOAL_RUN_DIR/containerd.started-by-shoal" ]; then
  log "stopping Shoal's containerd"
  start-stop-daemon --stop --oknodo --pidfile "$SHOAL_RUN_DIR/containerd.pid" --retry TERM/15/KILL/5 >/dev/null || true
  rm -f "$SHOAL_RUN_DIR/containerd.started-by-shoal" "$SHOAL_RUN_DIR/containerd.pid"
fi

# No mount may outlive the stack: anything left below the state root (an shm the stop
# above could not release, an overlay of a killed container) is unmounted here.
left="$(mounts_under "$SHOAL_STATE_ROOT")"
if [ -n "$left" ]; then
  while IFS= read -r m; do
    log "unmounting leftover $m"
    umount "$m" 2>/dev/null || umount -l "$m" || log "warning: could not unmount $m"
  done <<<"$left"
fi
# The agent's bind of the state root onto itself (undone by a clean agent stop).
if awk -v r="$SHOAL_STATE_ROOT" '$5 == r { found = 1 } END { exit !found }' /proc/self/mountinfo; then
  umount "$SHOAL_STATE_ROOT" 2>/dev/null || umount -l "$SHOAL_STATE_ROOT" || true
fi
[ -z "$(mounts_under "$SHOAL_STATE_ROOT")" ] || log "warning: mounts remain under $SHOAL_STATE_ROOT"

if [ -f "$SHOAL_RUN_DIR/nats.started-by-shoal" ]; then
  log "stopping nats-server"
  start-stop-daemon --stop --oknodo --pidfile "$SHOAL_RUN_DIR/nats.pid" --retry 10 || true
  rm -f "$SHOAL_RUN_DIR/nats.started-by-shoal" "$SHOAL_RUN_DIR/nats.pid"
fi
if [ -f "$SHOAL_RUN_DIR/postgres.started-by-shoal" ]; then
  ver="$(cat "$SHOAL_RUN_DIR/postgres.started-by-shoal")"
  log "stopping PostgreSQL $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main stop || true
  rm -f "$SHOAL_RUN_DIR/postgres.started-by-shoal"
fi

if [ -f "$SHOAL_RUN_DIR/shoal-link.created-by-shoal" ]; then
  if [ -L "$SHOAL_BIN_LINK" ] && [ "$(readlink "$SHOAL_BIN_LINK")" = "$(cat "$SHOAL_RUN_DIR/shoal-link.created-by-shoal")" ]; then
    rm -f "$SHOAL_BIN_LINK"
  fi
  rm -f "$SHOAL_RUN_DIR/shoal-link.created-by-shoal"
fi
log "stopped (host $host)"
