# NATS with JetStream for the compose deployment, from Debian bookworm's nats-server (2.9.10):
# the version Shoal is built against (toolchain-notes: design for 2.9), on the Debian base the
# other images share. Monitoring on 8222 answers the health check (/healthz, which also
# reports JetStream's readiness).
FROM debian:bookworm-slim
# The package makes the system user `nats`.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nats-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown nats:nats /data
USER nats
VOLUME ["/data"]
EXPOSE 4222 8222
HEALTHCHECK --interval=2s --timeout=5s --retries=30 CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8222 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q '\"ok\"' <&3"]
# No client auth: Shoal's services take no NATS credentials yet (see deploy/README.md, "Across
# machines"), so nothing but the compose network, or a firewalled private network, may reach 4222.
ENTRYPOINT ["nats-server", "-js", "-sd", "/data", "-p", "4222", "-m", "8222"]
