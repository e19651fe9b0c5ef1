#
# Weir production image: Node 24 LTS on Debian 13 (trixie) slim, the current uWebSockets.js build.
#
#   docker build --build-arg NODE_IMAGE=node:24.22.3-trixie-slim@sha256:<digest> \
#     --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) --build-arg VERSION=<version> \
#     --build-arg REVISION=$(git rev-parse HEAD) -t weir:<version> .
#   buildah build --timestamp "$(git log -1 --format=%ct)" ... (the same build args)
#   docker run --read-only -p 8080:8080 \
#     -v /path/to/gateway.yaml:/etc/weir/gateway.yaml:ro \
#     -v /path/to/secrets:/etc/weir/secrets:ro weir:<version>
#
# No `# syntax=` line: that would make the builder fetch a frontend image. Plain Dockerfile
# features only, so docker, BuildKit and buildah build it the same way.
#
# Base image: pinned by tag here, by digest in a release. Nothing can look a digest up from a
# machine without registry access, so the release process (docs/release.md) resolves it with ONE
# command and passes it as NODE_IMAGE:
#   skopeo inspect --format '{{.Digest}}' docker://docker.io/library/node:24.22.3-trixie-slim
# glibc ≥ 2.38 is required: the current uWebSockets.js build does not load on older glibc.
# CI builds the same file from a local base made of a debootstrapped Debian 13 root with Node 24
# (scripts/ci/image.sh), since no registry is reachable there.
ARG NODE_IMAGE=node:24.22.3-trixie-slim

# ---------------------------------------------------------------------------------------------
# deps: production dependencies only, from the lockfile, no install scripts. Only the uWS binary
# for this platform and this Node's ABI is kept (the package ships ~20 of them, ~110 MB).
FROM ${NODE_IMAGE} AS deps
WORKDIR /opt/weir
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
# embedded-postgres, oidc-provider and the legacy Node 20 uWS build serve only `weir dev` on old
# hosts; they are optional dependencies and left out here, as is every devDependency.
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && keep="uws_$(node -p 'process.platform+"_"+process.arch+"_"+process.versions.modules').node" \
 && find node_modules/uWebSockets.js -name 'uws_*.node' ! -name "$keep" -delete \
 && test -f "node_modules/uWebSockets.js/$keep" \
 && node -e "const u=require('uWebSockets.js');if(typeof u.SSLApp!=='function')process.exit(1)" \
 && npm cache clean --force

# ---------------------------------------------------------------------------------------------
# build: the compiler and type packages (devDependencies) without any prebuilt platform binary:
# `--os=none --cpu=none` matches no platform package, so the Claude Code CLI (a dev-only e2e
# tool, ~400 MB per version), embedded Postgres and the other native optional packages are never
# downloaded, while the plain JS optional packages whose types tsc needs (embedded-postgres,
# oidc-provider) stay. Writes dist/ and the SBOM of the production dependency tree (CycloneDX,
# reproducible output).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN npm ci --os=none --cpu=none --ignore-scripts --no-audit --no-fund \
 && ! find node_modules -name 'claude' -path '*claude-code-*' -type f | grep -q .
# .dockerignore keeps tests, benchmarks, docs and deploy assets out of the context, so only the
# gateway itself is compiled.
COPY . .
RUN npm run build \
 && test -f dist/bin/weir.js \
 && mkdir -p vendor migrations \
 && npx --no-install cyclonedx-npm --omit dev --omit optional --output-reproducible \
      --output-format JSON --output-file /src/sbom.cdx.json

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG SOURCE_DATE_EPOCH=0
# RFC 3339 form of SOURCE_DATE_EPOCH (a LABEL cannot compute it): date -u -d @"$SOURCE_DATE_EPOCH" +%FT%TZ
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE_URL=

# Remove the package managers from the final image: the gateway never needs them at run time and
# they are the largest source of scanner findings in the base image.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && groupadd --system --gid 10001 weir \
 && useradd --system --uid 10001 --gid weir --home-dir /var/lib/weir --no-create-home \
            --shell /usr/sbin/nologin weir \
 && mkdir -p /etc/weir/secrets /var/lib/weir /usr/share/doc/weir \
 && chown weir:weir /var/lib/weir \
 && chmod 0700 /var/lib/weir

LABEL org.opencontainers.image.title="weir" \
      org.opencontainers.image.description="Self-hosted gateway between Claude Code and your model providers" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}" \
      org.opencontainers.image.source="${SOURCE_URL}"

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
# The SBOM travels inside the image too (the release also publishes it beside the image).
COPY --from=build /src/sbom.cdx.json     /usr/share/doc/weir/sbom.cdx.json

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
