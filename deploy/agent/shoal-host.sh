#!/bin/bash
# One Shoal host in a container (the compose deployment's `agent`): starts this container's
# own containerd (/etc/shoal/containerd.toml), waits until it answers, then runs the runtime
# agent. Runs under tini, which reaps the containerd shims that outlive their parents.
#
# Stop (SIGTERM, as `docker stop` sends): the agent stops first (it releases the bind it made
# of its state root), then containerd. Whatever still runs — shims, containers — dies with the
# container's PID namespace when this script exits, and every mount made in here (shm tmpfs,
# overlay roots) goes with its mount namespace: nothing propagates to the machine, because
# the state root volume is mounted rprivate (Docker's default for volumes).
#
# If containerd or the agent exits on its own, the other is stopped and the container exits
# with that status, for the restart policy to act on.
#
# The agent reads SHOAL_* from the environment (services/runtime-agent/src/config.ts);
# SHOAL_HOST defaults to the container's hostname, SHOAL_CONTAINERD_SOCKET to containerd's
# socket configured here.
set -uo pipefail
log() { printf '[shoal-host] %s\n' "$*" >&2; }

# runc makes this host's container cgroups below the container's own; Docker mounts that tree
# read-only unless the container is privileged (docker-compose.yml says why the agent is not).
for m in $(awk '$5 ~ "^/sys/fs/cgroup" && $6 ~ "(^|,)ro(,|$)" { print $5 }' /proc/self/mountinfo); do
  mount -o remount,bind,rw "$m" || { log "cannot make $m writable: the agent container needs CAP_SYS_ADMIN"; exit 1; }
done

mkdir -p /run/containerd /var/lib/containerd
containerd --config /etc/shoal/containerd.toml &
containerd_pid=$!
for _ in $(seq 1 100); do
  ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1 && break
  kill -0 "$containerd_pid" 2>/dev/null || { wait "$containerd_pid"; log "containerd exited while starting ($?)"; exit 1; }
  sleep 0.2
done
ctr --address /run/containerd/containerd.sock version >/dev/null 2>&1 || { log "containerd did not answer within 20 s"; exit 1; }

export SHOAL_CONTAINERD_SOCKET="${SHOAL_CONTAINERD_SOCKET:-/run/containerd/containerd.sock}"
node --enable-source-maps /app/services/runtime-agent/dist/main.mjs &
agent_pid=$!
log "host $(hostname): containerd pid $containerd_pid, agent pid $agent_pid"

stopping=0
trap 'stopping=1; kill -TERM "$agent_pid" 2>/dev/null' TERM INT
# Until the agent or containerd exits; a signal interrupts `wait -n` (then `exited` is unset).
exited=
while [ -z "${exited:-}" ]; do
  wait -n -p exited "$agent_pid" "$containerd_pid"
  status=$?
done
if [ "$exited" = "$containerd_pid" ]; then
  log "containerd exited ($status); stopping the agent"
  kill -TERM "$agent_pid" 2>/dev/null; wait "$agent_pid"
  exit 1
fi
[ "$stopping" = 1 ] || log "the agent exited ($status)"
kill -TERM "$containerd_pid" 2>/dev/null && wait "$containerd_pid"
exit "$status"
