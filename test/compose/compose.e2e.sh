#!/usr/bin/env bash
# End-to-end test of the compose deployment (docker-compose.yml), for CI:
#   1. npm run compose:images (base images; a private dockerd when no daemon answers)
#   2. docker-compose up -d --build --scale agent=3, in a project of its own (shoale2e)
#   3. three hosts `ready` in `shoal hosts --format json`, through 127.0.0.1:7420 with no flags
#      when that port is free (else another published port, named in the output)
#   4. `shoal run -d --rootfs /var/lib/shoal-fleet-rootfs … sleep`: running on a host; an IPC
#      group (shareable owner + member, --restart always) on one host, whose shm tmpfs stays
#      inside its agent container (no mount of any agent's state root reaches the machine)
#   5. heartbeat-timeout=12s; `docker network disconnect` of the group's agent container: its
#      host is `lost` after the timeout while the group keeps running there; the group comes
#      back together on another host, once among the connected hosts
#   6. `docker network connect`: the returning host kills its copies (fencing) and is ready
#      again; each container of the group runs exactly once across the hosts
#   7. `shoal host drain` of the group's new host moves the group elsewhere
#   8. docker-compose down -v: no container, volume or network of the project left, and no
#      mount on the machine that was not there before `up` and belongs to the deployment
# It stops a private dockerd it started, unless something else runs containers there.
#
# Usage (root): bash test/compose/compose.e2e.sh
#   SHOAL_COMPOSE_E2E_TIMEOUT  whole-run bound in seconds (default 2400; a cold image build on
#                              2 cores takes ~5 min of it, a warm run ~2 min)
#   SHOAL_COMPOSE_E2E_KEEP=1   leave the deployment up on failure, for a look (then clean up with
#                              `COMPOSE_PROJECT_NAME=shoale2e docker-compose down -v`)
# Exits 0 on success, 1 on a failed check (the reason on the last line), 2 on a missing
# prerequisite. Not part of `npm test`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUDGET="${SHOAL_COMPOSE_E2E_TIMEOUT:-2400}"
if [ -z "${SHOAL_COMPOSE_E2E_CHILD:-}" ]; then
  # The whole run under one bound; the child cleans up on the TERM that `timeout` sends.
  export SHOAL_COMPOSE_E2E_CHILD=1
  rc=0
  timeout -k 60 "$BUDGET" bash "$0" "$@" || rc=$?
  [ "$rc" = 124 ] && echo "[compose-e2e] FAIL: the run passed its bound of ${BUDGET}s (SHOAL_COMPOSE_E2E_TIMEOUT)" >&2
  exit "$rc"
fi

PROJECT=shoale2e
export COMPOSE_PROJECT_NAME="$PROJECT"
DOCKER=/usr/bin/docker
START=$SECONDS
step() { printf '[compose-e2e] %4ss  %s\n' "$((SECONDS - START))" "$*" >&2; }
fail() { printf '[compose-e2e] FAIL: %s\n' "$*" >&2; exit 1; }
missing() { printf '[compose-e2e] missing prerequisite: %s\n' "$*" >&2; exit 2; }

# ---- prerequisites -----------------------------------------------------------------------
[ "$(id -u)" = 0 ] || missing "root (a private dockerd, debootstrap and the mount check need it)"
command -v node >/dev/null || missing "node 20 or newer on PATH"
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] || missing "node 20 or newer (found $(node --version))"
[ -x "$DOCKER" ] || missing "$DOCKER and dockerd (apt-get install -y docker.io)"
command -v docker-compose >/dev/null || missing "docker-compose (apt-get install -y docker-compose)"
command -v debootstrap >/dev/null || missing "debootstrap (apt-get install -y debootstrap), for npm run compose:images"
[ -d "$ROOT/node_modules" ] || missing "the workspace's node_modules (pnpm install), for the shoal CLI"
command -v timeout >/dev/null || missing "timeout (coreutils)"

SHOAL="$ROOT/services/cli/dist/shoal"
if [ ! -x "$SHOAL" ]; then
  step "building the shoal CLI (node services/cli/build.mjs)"
  node "$ROOT/services/cli/build.mjs" >/dev/null || fail "could not build the CLI"
fi

# The api's published address: the CLI's default when free, else a free port beside it.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
API_PORT=7420
if ! port_free 7420; then
  for p in $(seq 17420 17440); do port_free "$p" && { API_PORT=$p; break; }; done
  port_free "$API_PORT" || fail "127.0.0.1:7420 and 17420-17440 are all taken"
  step "127.0.0.1:7420 is taken on this machine: the api is published on 127.0.0.1:$API_PORT"
fi
export SHOAL_API_PUBLISH="127.0.0.1:$API_PORT"
shoal() {
  if [ "$API_PORT" = 7420 ]; then env -u SHOAL_ADDR "$SHOAL" "$@"; else SHOAL_ADDR="127.0.0.1:$API_PORT" "$SHOAL" "$@"; fi
}

# ---- images and daemon -------------------------------------------------------------------
step "npm run compose:images"
daemon_was_up=0
for h in "${DOCKER_HOST:-}" unix:///var/run/docker.sock "unix://${SHOAL_COMPOSE_RUN_DIR:-/run/shoal-compose}/docker.sock"; do
  [ -n "$h" ] && timeout 10 "$DOCKER" -H "$h" version >/dev/null 2>&1 && { daemon_was_up=1; break; }
done
images_out="$(cd "$ROOT" && npm run --silent compose:images)" || fail "npm run compose:images failed"
DOCKER_HOST="$(printf '%s\n' "$images_out" | sed -n 's/^export DOCKER_HOST=//p' | tail -1)"
[ -n "$DOCKER_HOST" ] || fail "compose:images printed no DOCKER_HOST"
export DOCKER_HOST
step "docker daemon: $DOCKER_HOST"
compose() { (cd "$ROOT" && docker-compose "$@"); }

# ---- cleanup -----------------------------------------------------------------------------
finish() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" != 0 ] && [ "${SHOAL_COMPOSE_E2E_KEEP:-}" = 1 ]; then
    step "kept the deployment up (SHOAL_COMPOSE_E2E_KEEP=1): COMPOSE_PROJECT_NAME=$PROJECT DOCKER_HOST=$DOCKER_HOST docker-compose down -v"
    exit "$rc"
  fi
  if [ "$rc" != 0 ]; then
    step "logs of the failed run (last 30 lines each):"
    compose logs --no-color --tail=30 >&2 2>&1 || true
  fi
  (cd "$ROOT" && timeout 120 docker-compose down -v --remove-orphans >/dev/null 2>&1) || true
  if [ "$daemon_was_up" = 0 ] && [ -z "$("$DOCKER" ps -aq 2>/dev/null)" ]; then
    step "stopping the private dockerd this run started"
    bash "$ROOT/scripts/compose-images.sh" --stop-daemon >/dev/null 2>&1 || true
  fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 143' TERM INT

# ---- up ----------------------------------------------------------------------------------
compose down -v --remove-orphans >/dev/null 2>&1 || true # what an interrupted run left
mounts_before="$(mktemp)"; awk '{ print $5 }' /proc/self/mountinfo | sort >"$mounts_before"

step "docker-compose up -d --build --scale agent=3"
t0=$SECONDS
build_log="$(mktemp)"
compose up -d --build --scale agent=3 >"$build_log" 2>&1 || { tail -n 40 "$build_log" >&2; fail "docker-compose up failed"; }
step "up in $((SECONDS - t0))s"

ready_hosts() { # names of the hosts `shoal hosts` lists as ready, one per line
  shoal hosts --format json 2>/dev/null | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const line of s.split("\n")) if (line.trim()) { const h = JSON.parse(line); if (h.Status === "ready") console.log(h.Name); }
    });'
}
host_status() { # host -> its status
  shoal hosts --format json 2>/dev/null | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const line of s.split("\n")) if (line.trim()) { const h = JSON.parse(line); if (h.Name === process.argv[1]) console.log(h.Status); }
    });' "$1"
}
wait_until() { # [WAIT_EXPLAIN=FN] wait_until SECONDS WHAT CMD... : polls every second; FN's output ends the failure
  local secs="$1" what="$2"; shift 2
  local end=$((SECONDS + secs))
  until "$@"; do
    [ "$SECONDS" -lt "$end" ] || fail "$what: not within ${secs}s$(${WAIT_EXPLAIN:-:})"
    sleep 1
  done
}
three_ready() { [ "$(ready_hosts | wc -l)" -ge 3 ]; }
wait_until 120 "three hosts ready in \`shoal hosts\`" three_ready
step "hosts ready: $(ready_hosts | tr '\n' ' ')"

# Agent containers by host name (the container's hostname is its short id).
agents="$(compose ps -q agent)"
[ "$(echo "$agents" | wc -l)" = 3 ] || fail "expected 3 agent containers, found: $agents"
agent_of() { for c in $agents; do [ "$("$DOCKER" inspect -f '{{.Config.Hostname}}' "$c")" = "$1" ] && { echo "$c"; return 0; }; done; return 1; }
for h in $(ready_hosts); do agent_of "$h" >/dev/null || fail "host $h is no agent container of this project"; done

# ---- run ---------------------------------------------------------------------------------
shoal config set heartbeat-timeout=12s >/dev/null || fail "shoal config set heartbeat-timeout=12s failed"
running_tasks() { # running_tasks AGENT_CONTAINER: ids of the tasks running in its containerd
  "$DOCKER" exec "$1" ctr -n shoal task ls 2>/dev/null | awk '$3 == "RUNNING" { print $1 }'
}
copies() { # copies ID AGENT...: how many of those agents run a task ID
  local id="$1" n=0; shift
  for a in "$@"; do running_tasks "$a" | grep -qx "$id" && n=$((n + 1)); done
  echo "$n"
}

t0=$SECONDS
id="$(shoal run -d --rootfs /var/lib/shoal-fleet-rootfs sleep 3600)" || fail "shoal run -d --rootfs /var/lib/shoal-fleet-rootfs sleep 3600 failed: $id"
step "shoal run -d: $id in $((SECONDS - t0))s"
[ "$(shoal inspect --format '{{.State.Status}}' "$id")" = running ] || fail "container $id is not running: $(shoal inspect "$id")"
first_agent="$(agent_of "$(shoal inspect --format '{{.Host}}' "$id")")" || fail "container $id runs on no agent container of this project"
running_tasks "$first_agent" | grep -qx "$id" || fail "containerd in agent $first_agent has no running task $id"
step "running on host $(shoal inspect --format '{{.Host}}' "$id")"

# An IPC group with a restart policy: owner and member on one host, the owner's shm tmpfs
# inside that agent container only.
owner="$(shoal run -d --name e2e-owner --ipc shareable --restart always --rootfs /var/lib/shoal-fleet-rootfs sleep 3600)" || fail "the shareable owner did not start: $owner"
member="$(shoal run -d --name e2e-member --ipc container:e2e-owner --restart always --rootfs /var/lib/shoal-fleet-rootfs sleep 3600)" || fail "the member did not start: $member"
host="$(shoal inspect --format '{{.Host}}' "$owner")"
[ "$(shoal inspect --format '{{.Host}}' "$member")" = "$host" ] || fail "the IPC group is split over two hosts"
agent="$(agent_of "$host")" || fail "the group runs on host '$host', which is no agent container"
"$DOCKER" exec "$agent" grep -q "/containers/$owner/mounts/shm " /proc/self/mountinfo || fail "no shm mount for the owner in agent $agent"
volumes="$(for c in $agents; do "$DOCKER" inspect -f '{{range .Mounts}}{{.Name}} {{end}}' "$c"; done)"
for v in $volumes; do
  ! grep -q "$v" /proc/self/mountinfo || fail "a mount below agent volume $v reached the machine: $(grep "$v" /proc/self/mountinfo | head -3)"
done
step "IPC group (--restart always) on host $host; its shm mount stays inside the agent container"

# ---- the group's host cut off the network ------------------------------------------------
others=""; for c in $agents; do [ "$c" = "$agent" ] || others="$others $c"; done
network="$("$DOCKER" inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$agent" | awk '{ print $1 }')"
t0=$SECONDS
"$DOCKER" network disconnect "$network" "$agent" || fail "docker network disconnect $network $agent failed"
is_lost() { [ "$(host_status "$host")" = lost ]; }
wait_until 45 "host $host marked lost after docker network disconnect (heartbeat-timeout 12s)" is_lost
step "host $host lost $((SECONDS - t0))s after its network was cut"
for c in "$owner" "$member"; do
  running_tasks "$agent" | grep -qx "$c" || fail "container $c stopped running on the cut-off host (no --stop-on-disconnect was asked)"
done
step "the group still runs on the cut-off host"

state_of() { shoal inspect --format '{{.State.Status}} {{.Host}}' "$1" 2>/dev/null || echo "(inspect failed)"; }

group_back() { # both running, together, on one host other than the cut one
  local ho hm
  ho="$(shoal inspect --format '{{.State.Status}} {{.Host}}' "$owner" 2>/dev/null)" || return 1
  hm="$(shoal inspect --format '{{.State.Status}} {{.Host}}' "$member" 2>/dev/null)" || return 1
  [ "$ho" = "$hm" ] && [ "${ho%% *}" = running ] && [ "${ho#* }" != "$host" ]
}
explain_group() { echo "; owner: $(state_of "$owner"), member: $(state_of "$member")"; }
WAIT_EXPLAIN=explain_group wait_until 60 "the group running again, together, on another host" group_back
new_host="$(shoal inspect --format '{{.Host}}' "$owner")"
for c in "$owner" "$member"; do
  n="$(copies "$c" $others)"
  [ "$n" = 1 ] || fail "container $c runs $n times on the connected hosts, not once"
done
step "the group is back together on host $new_host $((SECONDS - t0))s after the cut, once"

# ---- the host reconnected ----------------------------------------------------------------
t0=$SECONDS
"$DOCKER" network connect "$network" "$agent" || fail "docker network connect $network $agent failed"
fenced() { [ "$(copies "$owner" "$agent")" = 0 ] && [ "$(copies "$member" "$agent")" = 0 ]; }
wait_until 90 "the returning host $host killing its copies of the group" fenced
host_ready() { [ "$(host_status "$host")" = ready ]; }
wait_until 60 "host $host ready again after reconnecting" host_ready
for c in "$owner" "$member"; do
  n="$(copies "$c" $agents)"
  [ "$n" = 1 ] || fail "container $c runs $n times across the hosts after the reconnect, not once"
  [ "$(shoal inspect --format '{{.Host}}' "$c")" != "$host" ] || fail "container $c is placed on the returning host $host again"
done
step "host $host back and running none of the group $((SECONDS - t0))s after reconnecting; each runs once"

# ---- drain -------------------------------------------------------------------------------
t0=$SECONDS
shoal host drain "$new_host" >/dev/null || fail "shoal host drain $new_host failed"
drained() { ! running_tasks "$(agent_of "$new_host")" | grep -qx "$owner\|$member"; }
wait_until 90 "host $new_host emptied by the drain" drained
group_back_elsewhere() { # both running, together, on a host other than the drained one (the returning host will do)
  local ho hm
  ho="$(shoal inspect --format '{{.State.Status}} {{.Host}}' "$owner" 2>/dev/null)" || return 1
  hm="$(shoal inspect --format '{{.State.Status}} {{.Host}}' "$member" 2>/dev/null)" || return 1
  [ "$ho" = "$hm" ] && [ "${ho%% *}" = running ] && [ "${ho#* }" != "$new_host" ]
}
wait_until 60 "the group running together on another host after the drain" group_back_elsewhere
step "drain of $new_host moved the group to $(shoal inspect --format '{{.Host}}' "$owner") in $((SECONDS - t0))s"
shoal host activate "$new_host" >/dev/null || fail "shoal host activate $new_host failed"

# ---- down --------------------------------------------------------------------------------
# What names this deployment in a mount point: container ids (their shm, hosts files), overlay
# layer dirs, network namespaces, volumes.
ids="$(for c in $(compose ps -q); do
  "$DOCKER" inspect -f '{{.Id}} {{.GraphDriver.Data.MergedDir}} {{.NetworkSettings.SandboxKey}}' "$c"
done | tr ' ' '\n' | sed -e 's|/merged$||' -e 's|.*/||' | grep -v '^$' || true)"
t0=$SECONDS
compose down -v --remove-orphans >/dev/null 2>&1 || fail "docker-compose down -v failed"
step "down -v in $((SECONDS - t0))s"
[ -z "$("$DOCKER" ps -aq --filter "label=com.docker.compose.project=$PROJECT")" ] || fail "containers of $PROJECT left after down -v"
[ -z "$("$DOCKER" volume ls -q --filter "label=com.docker.compose.project=$PROJECT")" ] || fail "volumes of $PROJECT left after down -v"
for v in $volumes; do ! "$DOCKER" volume inspect "$v" >/dev/null 2>&1 || fail "agent volume $v left after down -v"; done

mounts_after="$(mktemp)"; awk '{ print $5 }' /proc/self/mountinfo | sort >"$mounts_after"
new="$(comm -13 "$mounts_before" "$mounts_after")"
ours=""
for m in $new; do
  for x in $ids $volumes; do case "$m" in *"$x"*) ours="$ours $m" ;; esac; done
  case "$m" in */mounts/shm | /var/lib/shoal/* | *shoal-fleet-rootfs*) ours="$ours $m" ;; esac
done
[ -z "$ours" ] || fail "mounts left on the machine after down -v:$ours"
# Mounts that came and stayed but name nothing of this project: another user of the daemon or
# of the machine (tests of the local stack run beside this one); shown, not failed.
[ -z "$new" ] || step "mounts new since up that are not this deployment's: $(echo "$new" | tr '\n' ' ')"
step "no mount left; PASS in $((SECONDS - START))s"
