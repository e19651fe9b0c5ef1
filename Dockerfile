# syntax=docker/dockerfile:1
#
# Weir production image.
#
#   docker build --platform=linux/amd64 --provenance=false -t weir:$(node -p 'require("./package.json").version') .
#   docker run --read-only -p 8080:8080 \
#     -v /path/to/gateway.yaml:/etc/weir/gateway.yaml:ro \
#     -v /path/to/secrets:/etc/weir/secrets:ro weir:<version>
#
# Three stages:
#   deps     production dependencies only (npm ci --omit=dev --omit=optional), no install scripts
#   build    the full dependency tree and `tsc`, producing dist/
#   runtime  Node + production node_modules + dist/ + migrations/ + package.json, running as an
#            unprivileged numeric user, with npm removed. Nothing is fetched with curl|sh; every
#            package comes from the lockfile, so SBOM scanners (syft, trivy, docker scout) see the
#            complete dependency list.
#
# Base image: glibc (Debian bookworm) because the uWebSockets.js native addon is built against glibc.
# The tag below pins Node's patch release. For byte-for-byte reproducible builds pin the digest too:
#   docker buildx imagetools inspect node:20.20.2-bookworm-slim --format '{{json .Manifest.Digest}}'
#   docker build --build-arg NODE_IMAGE=node:20.20.2-bookworm-slim@sha256:<digest> .
# and let your dependency bot bump the pair together.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /opt/weir
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# embedded-postgres and oidc-provider serve only `weir dev`; they are optional dependencies and
# are left out here, as is every devDependency.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
# .dockerignore keeps tests, benchmarks, docs and deploy assets out of the context, so only the
# gateway itself is compiled.
COPY . .
RUN npm run build \
 && test -f dist/bin/weir.js \
 && mkdir -p vendor migrations

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

# Remove the package managers from the final image: the gateway never needs them at run time and
# they are the largest source of scanner findings in the base image.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && groupadd --system --gid 10001 weir \
 && useradd --system --uid 10001 --gid weir --home-dir /var/lib/weir --no-create-home \
            --shell /usr/sbin/nologin weir \
 && mkdir -p /etc/weir/secrets /var/lib/weir \
 && chown weir:weir /var/lib/weir \
 && chmod 0700 /var/lib/weir

# WEIR_STATE_DIR: the only place Weir may write. `weir serve` writes nothing to disk, so the image
# runs with a read-only root filesystem; mount an emptyDir/tmpfs here if you run `weir dev` or
# want Node's HOME to be writable. CLAUDE_GATEWAY_* variables are documented in docs/operations.md.
ENV NODE_ENV=production \
    WEIR_STATE_DIR=/var/lib/weir \
    HOME=/var/lib/weir \
    WEIR_HEALTHCHECK_URL=http://127.0.0.1:8080/healthz

WORKDIR /opt/weir
COPY --from=deps  /opt/weir/node_modules ./node_modules
COPY --from=build /src/package.json      ./package.json
COPY --from=build /src/dist              ./dist
COPY --from=build /src/migrations        ./migrations
COPY --from=build /src/vendor            ./vendor

# Numeric user so Kubernetes runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001

# listen.port default. Mount gateway.yaml at /etc/weir/gateway.yaml and secret files under
# /etc/weir/secrets (referenced from the config as ${file:/etc/weir/secrets/<name>}).
EXPOSE 8080

# Liveness only (/healthz): /readyz also fails while Postgres is down, and restarting a gateway
# that can still serve signed-in developers would turn a database blip into an outage. No curl in
# slim images, so Node's own fetch does the probe. If you change listen.port or bind listen.host to
# something other than all interfaces or loopback, set WEIR_HEALTHCHECK_URL to match. With
# listen.tls, use an https:// URL whose host name is in the certificate and put the issuing CA in
# NODE_EXTRA_CA_CERTS.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.WEIR_HEALTHCHECK_URL||'http://127.0.0.1:8080/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.status===200?0:1),()=>process.exit(1))"]

# Weir handles SIGTERM itself: it stops accepting, drains in-flight streams for up to
# CLAUDE_GATEWAY_DRAIN_TIMEOUT_MS (default 30000) and exits 0. Give the orchestrator a longer
# grace period than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/opt/weir/dist/bin/weir.js"]
CMD ["serve", "--config", "/etc/weir/gateway.yaml"]
