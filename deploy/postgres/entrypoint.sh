#!/bin/sh
# Makes the cluster in $PGDATA on first start, then runs postgres in the foreground.
# SHOAL_POSTGRES_PASSWORD set (at first start): user postgres needs it over TCP
# (scram-sha-256); unset: TCP connections are trusted. Either way the compose files never
# publish the port: only services on the compose network reach it. The socket inside the
# container is always trusted (pg_isready, psql through `docker exec`).
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -n "${SHOAL_POSTGRES_PASSWORD:-}" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$SHOAL_POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 --pwfile="$pwfile" >/dev/null
    rm -f "$pwfile"
    host_auth=scram-sha-256
  else
    initdb -D "$PGDATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=trust >/dev/null
    host_auth=trust
  fi
  cat >>"$PGDATA/pg_hba.conf" <<HBA
# shoal compose: the compose network's addresses
host all all 0.0.0.0/0 $host_auth
host all all ::/0 $host_auth
HBA
  echo "shoal-postgres: made the cluster in $PGDATA (TCP auth: $host_auth)" >&2
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/run/postgresql
