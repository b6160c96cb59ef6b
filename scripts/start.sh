#!/usr/bin/env bash
# `npm start`: installs what is missing (apt packages, pnpm, workspace deps), starts
# Postgres and NATS when they are not already answering, builds, and migrates.
source "$(dirname "$0")/lib.sh"
ensure_node
ensure_postgres
ensure_nats
ensure_container_tools
ensure_deps
cd "$SHOAL_ROOT"
log "build (typecheck)"
pnpm exec tsc -p tsconfig.json --noEmit
log "migrate"
pnpm run --silent migrate
log "up: Postgres $PGHOST:$PGPORT (database shoal), NATS $SHOAL_NATS_URL"
