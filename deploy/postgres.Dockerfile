# PostgreSQL 15 for the compose deployment, from Debian bookworm's packages: the version the
# local stack and the tests use (toolchain-notes), on the same Debian base as every other
# Shoal image, so the only base image to obtain is debian:bookworm-slim (`npm run
# compose:images` makes it where no registry answers).
FROM debian:bookworm-slim
# No cluster at install: the entrypoint makes one in the data volume on first start.
RUN mkdir -p /etc/postgresql-common \
 && echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.conf \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY postgres/entrypoint.sh /usr/local/bin/shoal-postgres.sh
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data
USER postgres
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
# Fast shutdown (SIGINT): SIGTERM's smart shutdown waits for every client to leave.
STOPSIGNAL SIGINT
HEALTHCHECK --interval=2s --timeout=5s --retries=30 CMD pg_isready -q -h 127.0.0.1 -U postgres
ENTRYPOINT ["/usr/local/bin/shoal-postgres.sh"]
