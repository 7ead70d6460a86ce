# syntax=docker/dockerfile:1.7
#
# One image per service, all from this file (BuildKit):
#
#   docker build --target gateway    -t spooled/gateway:0.1.0 .
#   docker build --target queue-core -t spooled/queue-core:0.1.0 .
#   docker build --target scheduler  -t spooled/scheduler:0.1.0 .
#   docker build --target webhooks   -t spooled/webhooks:0.1.0 .
#   docker build --target billing    -t spooled/billing:0.1.0 .
#   docker build --target realtime   -t spooled/realtime:0.1.0 .
#
# Each image holds one service installed non-editable from uv.lock into
# /app/.venv (no dev dependencies, no sources), runs as uid 10001, and works
# with a read-only root filesystem (bytecode is compiled at build time).
# The Helm chart and the Kustomize base expect exactly these target names;
# tests/deploy/test_dockerfile.py runs each target's uv commands for real.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- build stages
FROM ${PYTHON_IMAGE} AS builder
# Same uv as the Makefile, from PyPI.
ARG UV_VERSION=0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
WORKDIR /src

# Per service: third-party dependencies first (a layer that survives source
# edits: only uv.lock and the root pyproject.toml are mounted), then the
# workspace packages themselves.
FROM builder AS build-gateway
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --package spooled-gateway --no-editable --no-dev --no-install-workspace
COPY . /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --package spooled-gateway --no-editable --no-dev

FROM builder AS build-queue-core
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --package spooled-queue-core --no-editable --no-dev --no-install-workspace
COPY . /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --package spooled-queue-core --no-editable --no-dev

FROM builder AS build-scheduler
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --package spooled-scheduler --no-editable --no-dev --no-install-workspace
COPY . /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --package spooled-scheduler --no-editable --no-dev

FROM builder AS build-webhooks
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --package spooled-webhooks --no-editable --no-dev --no-install-workspace
COPY . /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --package spooled-webhooks --no-editable --no-dev

FROM builder AS build-billing
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --package spooled-billing --no-editable --no-dev --no-install-workspace
COPY . /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --package spooled-billing --no-editable --no-dev

FROM builder AS build-realtime
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=uv.lock,target=uv.lock \
    --mount=type=bind,source=pyproject.toml,target=pyproject.toml \
    uv sync --frozen --package spooled-realtime --no-editable --no-dev --no-install-workspace
COPY . /src
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --package spooled-realtime --no-editable --no-dev

# -------------------------------------------------------------- runtime stages
FROM ${PYTHON_IMAGE} AS runtime
# A fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 spooled \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin spooled
# The venv is root-owned and read-only to the service; /tmp is the only
# writable place (an emptyDir in Kubernetes).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
USER 10001:10001

FROM runtime AS gateway
COPY --from=build-gateway /app/.venv /app/.venv
EXPOSE 8080 50051
ENTRYPOINT ["spooled-gateway"]
CMD ["serve"]

FROM runtime AS queue-core
COPY --from=build-queue-core /app/.venv /app/.venv
EXPOSE 50061 8081
ENTRYPOINT ["spooled-queue-core"]
CMD ["serve"]

FROM runtime AS scheduler
COPY --from=build-scheduler /app/.venv /app/.venv
EXPOSE 50062 8082
ENTRYPOINT ["spooled-scheduler"]
CMD ["serve"]

FROM runtime AS webhooks
COPY --from=build-webhooks /app/.venv /app/.venv
EXPOSE 50064 8084
ENTRYPOINT ["spooled-webhooks"]
CMD ["serve"]

FROM runtime AS billing
COPY --from=build-billing /app/.venv /app/.venv
EXPOSE 50063 8085
ENTRYPOINT ["spooled-billing"]
CMD ["serve"]

FROM runtime AS realtime
COPY --from=build-realtime /app/.venv /app/.venv
EXPOSE 8083
ENTRYPOINT ["spooled-realtime"]
CMD ["serve"]
