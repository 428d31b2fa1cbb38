# chat-token-broker container image.
#
#   docker build -t chat-token-broker .
#   docker run --rm -p 8080:8080 --read-only --env-file .env chat-token-broker
#   docker run --rm -p 8090:8090 -e EMULATOR_HOST=0.0.0.0 chat-token-broker node dist/emulator/main.js
#
# Three stages on the same official Node.js image, pinned to an exact release (bump it together
# with the Node.js version CI runs):
#  - `build` compiles TypeScript. It installs the production dependencies (their type declarations)
#    plus the compiler and Node's types, at the versions package-lock.json pins, and nothing else:
#    scripts/image/build-manifest.ts trims this stage's copy of package.json and the lockfile first,
#    so the test runner, linters and Helm never enter the build (~80 MB instead of ~720 MB).
#  - `deps` installs the production dependencies alone and prunes what no program reads (type
#    declarations, source maps, Markdown, packages' own tests and examples).
#  - the final stage holds dist/ (without the local-mode entry or source maps), those dependencies
#    and package.json: no compiler, no tests, no sources, no npm cache.
# Nothing at run time needs the slim image's shell: the HEALTHCHECK and the chart's probes use node,
# and the chart's preStop pause is Kubernetes' native sleep.
# The image is built and run for real by `npm run test:container` (test/container/); the rules
# below are also checked without an engine by test/deploy/dockerfile.test.ts.

FROM node:24.22.3-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/image/build-manifest.ts ./scripts/image/
RUN node scripts/image/build-manifest.ts && npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && find dist -name '*.map' -delete

FROM node:24.22.3-trixie-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/image/prune-modules.ts ./scripts/image/
RUN npm ci --omit=dev --no-audit --no-fund && node scripts/image/prune-modules.ts node_modules && npm cache clean --force

FROM node:24.22.3-trixie-slim AS runtime
LABEL org.opencontainers.image.title="chat-token-broker" \
      org.opencontainers.image.description="Exchanges an app's own JWT for a Nexconn Chat access token, with caching, failover and quota control." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.base.name="docker.io/library/node:24.22.3-trixie-slim"
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080
WORKDIR /app
# Owned by root and not writable by the runtime user: the process cannot modify its own code.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Numeric UID/GID (the image's `node` user) so Kubernetes can verify runAsNonRoot.
USER 1000:1000
EXPOSE 8080
# Docker and Compose use this; Kubernetes ignores it (the chart's probes do the job). Exec form
# with node, so it needs no shell.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/livez',{signal:AbortSignal.timeout(2500)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and handles SIGTERM itself (graceful close); never `npm start`, which
# would sit between the signal and the service.
CMD ["node", "dist/server.js"]
