#!/usr/bin/env bash
# `npm stop`: stops what `npm start` started, and nothing it found already running.
source "$(dirname "$0")/lib.sh"
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
log "stopped"
