# syntax=docker/dockerfile:1
# Multi-stage: install exactly the committed lock file and build (npm ci runs `prepare`, which
# compiles TypeScript), drop the dev dependencies, and run as the non-root `node` user.
# `leadrelay` is on the PATH; the default command is `start`.
#
# Without DATABASE_URL the container runs its own embedded PostgreSQL under /app/data (mount a
# volume there to keep it); without REDIS_URL the queues live in that database. For a fleet,
# set DATABASE_URL (and REDIS_URL for volume): see docker-compose.yml.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY connectors ./connectors
COPY config ./config
COPY test ./test
COPY bench ./bench
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
# NODE_OPTIONS: the V8 heap settings of src/cli/server-node-flags.ts (set another NODE_OPTIONS to change them).
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=384" \
    PORT=3000 \
    DATA_DIR=/app/data
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/connectors ./dist/connectors
COPY --from=build /app/dist/web ./dist/web
COPY package.json ./
COPY config ./config
RUN printf '#!/bin/sh\nexec node /app/dist/src/cli/main.js "$@"\n' > /usr/local/bin/leadrelay \
    && chmod 755 /usr/local/bin/leadrelay \
    && mkdir -p /app/data && chown -R node:node /app/data
USER node
VOLUME /app/data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
# SIGTERM from `docker stop` reaches LeadRelay directly: it drains within SHUTDOWN_TIMEOUT_MS
# (25 s by default, under docker's 30 s below) and exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["leadrelay"]
CMD ["start"]
