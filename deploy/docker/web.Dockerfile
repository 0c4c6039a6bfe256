# The web console (web/, ADR 0018): built with Node from the locked npm packages, served by nginx,
# which also forwards /api/ to query-api so the browser talks to one origin (no CORS needed).
# Context: the repository root (docker-compose.yml's `web` service).

FROM node:20-bookworm-slim AS build
WORKDIR /src
# The generated API client is imported as source; its packages (openapi-fetch) come from its lockfile.
COPY clients/typescript/package.json clients/typescript/package-lock.json clients/typescript/
RUN cd clients/typescript && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY web/package.json web/package-lock.json web/
RUN cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
COPY clients/typescript/src clients/typescript/src
COPY web/index.html web/tsconfig.json web/vite.config.ts web/
COPY web/src web/src
RUN cd web && node_modules/.bin/tsc --noEmit -p . && node_modules/.bin/vite build

FROM nginx:1.27-alpine
COPY web/nginx.conf /etc/nginx/conf.d/default.conf
COPY --from=build /src/web/dist /usr/share/nginx/html
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1
