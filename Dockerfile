# syntax=docker/dockerfile:1
# Switchyard: one compiled Bun binary; MODULES (env) chooses what a container runs.
# Stages: deps (npm ci --omit=dev from the lockfile) → build (official Bun image, bun build --compile)
# → runtime (small Debian, non-root, binary only: no node_modules at run time).
# CI runs the same commands outside Docker (tests/deploy/dockerfile.test.ts).

FROM node:20-bookworm-slim AS deps
WORKDIR /src
COPY package.json package-lock.json ./
# Runtime dependencies only: the build stage's image brings Bun, and the devDependencies
# (benchmark gateways, TypeScript, test clients) are not part of the binary.
RUN npm ci --omit=dev --no-audit --no-fund

FROM oven/bun:1.4.4 AS build
WORKDIR /src
COPY --from=deps /src/node_modules ./node_modules
COPY package.json tsconfig.json bunfig.toml ./
COPY scripts ./scripts
COPY src ./src
RUN SWITCHYARD_OUTFILE=dist/switchyard bun scripts/build.ts && ./dist/switchyard --help > /dev/null

FROM debian:bookworm-slim AS runtime
RUN groupadd --system switchyard && useradd --system --gid switchyard --home-dir /var/lib/switchyard --create-home switchyard
COPY --from=build /src/dist/switchyard /usr/local/bin/switchyard
USER switchyard
WORKDIR /var/lib/switchyard
# NODE_ENV=production: no GraphiQL, no introspection, masked errors, JWT_SECRET required (the
# binary defaults to production anyway; stated here so that nothing depends on that default).
# /metrics and /admin/* listen on OPS_PORT, on loopback unless OPS_HOST says otherwise.
ENV NODE_ENV=production \
    MODULES=all \
    HOST=0.0.0.0 \
    PORT=8080 \
    OPS_PORT=9091 \
    DATA_DIR=/var/lib/switchyard/data \
    LOG_LEVEL=info
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["switchyard", "--probe"]
CMD ["switchyard"]
