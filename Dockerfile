# syntax=docker/dockerfile:1
# The service's image for the local stack (docker-compose.yml): `npm start`'s script against a PostgreSQL given by
# DATABASE_URL and RabbitMQ (QUEUE_DRIVER=rabbitmq), and `npm run db:migrate` for the one-shot migrations.
#
# Why the final image keeps some dev dependencies: `npm start` is the local stack, not a deployed function. It runs
# scripts/start.ts with tsx, and serverless-offline (through serverless-esbuild and esbuild) bundles the functions
# each time it starts; all of these are dev dependencies, so an image of the production dependencies alone cannot run
# it. The final image keeps those five and drops every other dev dependency: tests, lint, benchmark, migration
# generation, embedded PostgreSQL (the image always has DATABASE_URL) and the dashboard's build tools (the dashboard
# is built here, in its own stage).
#
# Layers for fast rebuilds: the install depends on package.json and package-lock.json alone and the dashboard on its
# sources and lib/, so after a code change `docker compose up --build` reuses the install and takes seconds.

# Node 22: the runtime of the deployed functions (serverless.yml), in the range package.json's engines allows.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false

# Every dependency, as locked. The image's npm does not read package.json's allowScripts, so no install script runs
# (some report usage over the network) but esbuild's, which package.json allows and names here.
FROM base AS deps
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts && npm rebuild esbuild

# The dashboard, built once into dashboard/dist, from its sources and the modules of lib/ it imports.
FROM deps AS dashboard
COPY tsconfig.json ./
COPY lib ./lib
COPY dashboard ./dashboard
RUN npm run build:dashboard

# What `npm start` needs at run time: the production dependencies and these dev dependencies; the others are removed.
FROM deps AS runtime-deps
ARG KEEP_DEV="esbuild serverless serverless-esbuild serverless-offline tsx"
RUN npm uninstall --no-save --ignore-scripts $(node -p "const keep = process.argv[1].split(' '); \
      Object.keys(require('./package.json').devDependencies).filter((name) => !keep.includes(name)).join(' ')" "$KEEP_DEV")

FROM base AS final
# tini as PID 1, from the distribution and in the image rather than Compose's `init: true`, so that `docker run` gets
# it too: it passes SIGTERM on to its one child and reaps the processes that the children of start.ts leave behind.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
COPY --from=runtime-deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json serverless.yml ./
COPY drizzle ./drizzle
COPY functions ./functions
COPY lib ./lib
COPY local ./local
COPY scripts ./scripts
COPY --from=dashboard /app/dashboard/dist ./dashboard/dist
# The code stays root's, read-only to the service; serverless-esbuild writes its bundles into .esbuild.
RUN mkdir .esbuild && chown node:node .esbuild
USER node
# In a container the HTTP port listens on every interface; the Lambda invoke port stays on loopback (serverless.yml).
ENV HTTP_HOST=0.0.0.0 HTTP_PORT=3000
EXPOSE 3000
ENTRYPOINT ["/usr/bin/tini", "--"]
# What `npm start` runs (`tsx scripts/start.ts`), without npm and its `sh -c` in between: on SIGTERM npm passes the
# signal to that shell, which dies of it without passing it on, and npm exits; tini would then exit too and the
# container be killed while start.ts never heard of the stop. Run directly, start.ts gets SIGTERM from tini, stops
# taking messages, gives running tasks up to 10 s and stops serverless-offline (stop_grace_period in Compose covers it).
CMD ["node", "--import", "tsx", "scripts/start.ts"]
