#!/usr/bin/env bash
# Runs every test tier. Installs and starts what the tests need first (idempotent).
source "$(dirname "$0")/lib.sh"
ensure_node
ensure_apt ca-certificates
ensure_postgres
ensure_nats
ensure_container_tools
ensure_deps
cd "$SHOAL_ROOT"
log "typecheck"
pnpm exec tsc -p tsconfig.json --noEmit
log "tests: unit, int, e2e"
pnpm exec vitest run "$@"
