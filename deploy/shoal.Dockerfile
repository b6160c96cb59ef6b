# Shoal's service images, built from the repository's sources (context: the repository root).
#
#   target control-plane  api, scheduler, mount-manager and the one-shot migrator; runs as user shoal
#   target agent          one host: containerd, runc and the runtime agent (deploy/agent/shoal-host.sh),
#                         plus a busybox root filesystem at /var/lib/shoal-fleet-rootfs; runs privileged
#
# Both carry the same build (/app: bundles in services/*/dist, production node_modules, proto/).
# The base is the public node:20-bookworm-slim; where no registry answers, `npm run
# compose:images` makes a local stand-in of that name first. Build with the host network
# (`network: host` in the compose files): the steps fetch from the npm registry and Debian's
# mirrors. Plain Dockerfile syntax, no BuildKit features, so docker-compose 1.29's builder and
# Compose v2's both build it.

FROM node:20-bookworm-slim AS build
ARG PNPM_VERSION=10.34.9
ENV CI=true PNPM_HOME=/pnpm PATH=/pnpm:$PATH
RUN npm install -g --no-fund --no-audit "pnpm@${PNPM_VERSION}" >/dev/null
WORKDIR /src

# The workspace manifests alone first, so the install layer is reused until a dependency
# changes. Gathered from the whole context in a stage of their own (the list of packages is
# not repeated here); the COPY below is cached by content.
FROM build AS manifests
COPY . /context
RUN cd /context \
 && find . -path ./node_modules -prune -o \( -name package.json -o -name pnpm-lock.yaml -o -name pnpm-workspace.yaml -o -name .npmrc \) -print \
    | grep -v '/node_modules/' | tar -cf - -T - | (mkdir -p /manifests && tar -C /manifests -xf -)

FROM build AS deps
COPY --from=manifests /manifests/ /src/
RUN pnpm install --frozen-lockfile --reporter=append-only >/dev/null

FROM deps AS compiled
COPY . /src/
# Service bundles (scripts/build.mjs; the CLI is not needed in the images), then the migrator
# as one ESM file with every dependency inside (pg's optional native binding left out), then
# production dependencies only: the bundles import third-party packages by their path in
# node_modules/.pnpm, which a --prod install keeps as it was.
RUN node scripts/build.mjs api scheduler mount-manager runtime-agent \
 && services/cli/node_modules/.bin/esbuild scripts/migrate.ts --bundle --platform=node --target=node20 --format=esm \
      --external:pg-native --log-level=warning --outfile=scripts/dist/migrate.mjs \
      "--banner:js=import { createRequire as __shoalRequire } from 'node:module'; const require = __shoalRequire(import.meta.url);" \
 && pnpm install --frozen-lockfile --prod --offline --reporter=append-only >/dev/null \
 && rm -rf /src/test /src/bench

FROM node:20-bookworm-slim AS control-plane
ENV NODE_ENV=production
RUN useradd --system --home-dir /app --shell /usr/sbin/nologin shoal
WORKDIR /app
COPY --from=compiled /src /app
USER shoal
# The compose file names the service: api, scheduler, mount-manager or migrate.
CMD ["node", "--enable-source-maps", "services/api/dist/main.mjs"]

FROM node:20-bookworm-slim AS agent
# What the local stack installs on a host (scripts/lib.sh, ensure_container_tools): containerd
# and runc from Debian (1.6.20, 1.1.5); busybox-static for the root filesystem; gcc and
# libc6-dev, with which the agent compiles its container logger and its mount_setattr probe
# (without them it falls back to a shell logger and offers no `rro`); procps for `shoal top`.
# Plus tini, which reaps the shims that outlive their parent. No recommends: runc's would bring
# Debian's criu, which fails on these kernels.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends containerd runc busybox-static gcc libc6-dev procps tini \
 && rm -rf /var/lib/apt/lists/*
COPY deploy/agent/containerd.toml /etc/shoal/containerd.toml
COPY deploy/agent/busybox-rootfs.sh deploy/agent/shoal-host.sh /usr/local/bin/
RUN /usr/local/bin/busybox-rootfs.sh /var/lib/shoal-fleet-rootfs
WORKDIR /app
COPY --from=compiled /src /app
# The state root and containerd's root are volumes (overlay upper dirs cannot live on the
# image's own overlay); /run is a tmpfs given by the compose file.
VOLUME ["/var/lib/shoal", "/var/lib/containerd"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/shoal-host.sh"]
