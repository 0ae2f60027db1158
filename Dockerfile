# One image for every PlazaPulse component; docker-compose.yml picks the component with the command
# (`broker`, `ingest`, `portal`, or `start` for all in one process).
FROM node:20.19-bookworm-slim AS deps
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary matches the platform.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20.19-bookworm-slim
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY protocol ./protocol
COPY core ./core
COPY broker ./broker
COPY ingest ./ingest
COPY ops ./ops
COPY portal ./portal
COPY dashboards ./dashboards
COPY firmware-sim ./firmware-sim
COPY cli ./cli
# Registry, ingest state, outbox spool and portal data live here: mount a volume.
RUN mkdir -p /data && chown node:node /data
ENV PLAZA_DATA_DIR=/data
VOLUME ["/data"]
USER node
# MQTT, ops (health, metrics, API), captive portal.
EXPOSE 1883 3000 8080
ENTRYPOINT ["node", "bin/plaza.js"]
CMD ["start"]
