#!/usr/bin/env bash
# Runs every test tier. Installs and starts what the tests need first (idempotent).
source "$(dirname "$0")/lib.sh"
ensure_node
ensure_apt ca-certificates
ensure_postgres
ensure_nats
ensure_container_tools
ensure_test_tools
ensure_deps
cd "$SHOAL_ROOT"
log "typecheck"
pnpm exec tsc -p tsconfig.json --noEmit
# The service bundles and the compiled `shoal`, which the CLI's int tests and the e2e tier run.
log "build: service bundles and the CLI"
node scripts/build.mjs >/dev/null || die "build failed (node scripts/build.mjs)"
log "tests: unit, int, e2e"
mkdir -p .shoal
set +e
pnpm exec vitest run --reporter=default --reporter=json --outputFile.json=.shoal/vitest-report.json "$@"
status=$?
set -e
# One plain closing line for CI: "N passed, N failed".
node -e '
  const r = JSON.parse(require("fs").readFileSync(".shoal/vitest-report.json", "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);
' || true
# The compose deployment's own end-to-end run (test/compose/compose.e2e.sh: images, up with
# three agent hosts, a group moved by a lost host and by a drain, down), when the whole suite
# runs. Bounded: a cold image build takes about 4 minutes on 2 cores, a warm run about 80 s.
if [ "$#" -eq 0 ] && [ "${SHOAL_SKIP_COMPOSE_E2E:-}" != 1 ]; then
  ensure_apt docker.io docker-compose debootstrap
  log "tests: the compose deployment (test/compose/compose.e2e.sh)"
  if SHOAL_COMPOSE_E2E_TIMEOUT="${SHOAL_COMPOSE_E2E_TIMEOUT:-1200}" bash test/compose/compose.e2e.sh; then
    echo "compose e2e: passed"
  else
    echo "compose e2e: FAILED"
    status=1
  fi
fi
exit "$status"
