# syntax=docker/dockerfile:1
# One image for the Signpost services. Pick the service with the command:
#   docker run ... signpost python -m services.intake      (HTTP 8001)
#   docker run ... signpost python -m services.alerts      (HTTP 8002)
#   docker run ... signpost python -m services.referrals   (HTTP 8003)
#   docker run ... signpost python -m services.web         (HTTP 8000, the pages)
# Settings come from the environment (KAFKA_BOOTSTRAP_SERVERS, SIGNPOST_*): see docs/deploy.md.
# Python: an exact release, pinned by digest (docs/deploy.md: how to check it on a connected machine).
ARG PYTHON_IMAGE=python:3.11.17-slim-bookworm@sha256:2333bd330d12de02514770b3585cad313644316047cdee24a7acfdece6de6efb
# Node only builds the pages' assets; the runtime image has none. An exact release, pinned by digest
# (docs/deploy.md: how to check it on a connected machine).
ARG NODE_IMAGE=node:22.12.0-bookworm-slim@sha256:35531c52ce27b6575d69755c73e65d4468dba93a25644eed56dc12879cae9213

# ---------------------------------------------------------------- assets: the GOV.UK Design System
# govuk-frontend and @ministryofjustice/frontend, exactly as package-lock.json pins them (integrity
# hashes); --omit=dev leaves out axe-core, which only the browser tests use.
FROM ${NODE_IMAGE} AS assets
WORKDIR /src/services/web
COPY services/web/package.json services/web/package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# ---------------------------------------------------------------- build: a venv from the lock
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/signpost
ENV PATH=/opt/signpost/bin:$PATH
WORKDIR /src
# Dependencies first (their layer is reused until the lock changes); every one pinned and hashed,
# without the test tools (requirements.prod.lock: `make lock` writes both).
COPY requirements.prod.lock ./
RUN pip install --require-hashes --no-deps -r requirements.prod.lock
# Then the project itself, without resolving anything again.
COPY pyproject.toml ./
COPY schemas ./schemas
COPY services ./services
RUN pip install --no-deps . \
    && python -c "import services.intake.app, services.alerts.app, services.referrals.app, services.web.app, services.cli"

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE}
# The commit this image is built from (.git stays out of the context): signpost --version, /healthz and
# signpost_build_info show it. docker compose passes it: SIGNPOST_COMMIT=$(git rev-parse HEAD).
ARG SIGNPOST_COMMIT=unknown
ENV PATH=/opt/signpost/bin:$PATH \
    SIGNPOST_COMMIT=${SIGNPOST_COMMIT} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SIGNPOST_DATA_DIR=/var/lib/signpost \
    SIGNPOST_HOST=0.0.0.0
RUN groupadd --system --gid 10001 signpost \
    && useradd --system --uid 10001 --gid signpost --home-dir /var/lib/signpost --no-create-home \
       --shell /usr/sbin/nologin signpost \
    && mkdir -p /var/lib/signpost \
    && chown signpost:signpost /var/lib/signpost
COPY --from=build /opt/signpost /opt/signpost
# the pages serve the packages' precompiled dist from beside their own code (services/web/app.py: NODE)
COPY --from=assets /src/services/web/node_modules /opt/signpost/lib/python3.11/site-packages/services/web/node_modules
COPY deploy/docker/healthcheck.py /usr/local/bin/signpost-healthcheck
USER 10001:10001
WORKDIR /var/lib/signpost
VOLUME ["/var/lib/signpost"]
EXPOSE 8000 8001 8002 8003
# GET /healthz of the service this container runs (found from the command line; no curl needed).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/bin/signpost-healthcheck"]
CMD ["python", "-m", "services.intake"]
