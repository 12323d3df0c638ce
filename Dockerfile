# One image for the provisioning worker, the bootstrap worker and the controllers (and the Azure emulator
# of the compose file's `emulator` profile); the command picks the process:
#   python -m worker                   the provisioning worker (task queue kaito-provisioning)
#   python -m worker.bootstrap_worker  the bootstrap worker (task queue kaito-bootstrap)
#   python -m controllers              the kopf controllers
#   python -m gateway                  the wake gateway (a suspended workspace's Service routes to it)
#   python -m localcloud.azure         the ARM + Entra emulator
# Build: docker build -t kaito-temporal:0.1.0 .   (the default, last stage)
# The `temporal` target is the Temporal server, its SQL schema tool and the UI server, built from the same
# pinned Go modules as scripts/build-temporal-server.sh: docker build --target temporal -t kaito-temporal-server .
# Bases are pinned to exact tags: the Go toolchain go.temporal.io/server v1.32.2 declares, and the Python
# minor and patch the test suite runs on.

FROM golang:1.26.10-bookworm AS temporal-build
ENV CGO_ENABLED=0 GOFLAGS="-mod=readonly -trimpath -buildvcs=false" GOTOOLCHAIN=local
WORKDIR /src
COPY scripts/temporal-server-tools scripts/temporal-server-tools
WORKDIR /src/scripts/temporal-server-tools/server
RUN go build -ldflags "-s -w" -o /out/temporal-server go.temporal.io/server/cmd/server \
    && go build -ldflags "-s -w" -o /out/temporal-sql-tool go.temporal.io/server/cmd/tools/sql
WORKDIR /src/scripts/temporal-server-tools/ui
RUN go build -ldflags "-s -w" -o /out/temporal-ui-server github.com/temporalio/ui-server/v2/cmd/server

FROM debian:12.11-slim AS temporal
RUN groupadd --system --gid 10002 temporal \
    && useradd --system --uid 10002 --gid temporal --no-create-home --shell /usr/sbin/nologin temporal
COPY --from=temporal-build /out/ /usr/local/bin/
COPY deploy/compose/temporal/ /etc/temporal/
COPY deploy/compose/temporal-ui/ /etc/temporal-ui/config/
USER 10002:10002
EXPOSE 7233 7243 8080
CMD ["temporal-server", "--config-file", "/etc/temporal/config.yaml", "--allow-no-auth", "start"]

FROM python:3.11.7-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/kaito
WORKDIR /app
# Dependencies first (pinned in pyproject.toml), so a source change reuses this layer.
COPY pyproject.toml README.md ./
RUN mkdir presets workflows activities worker connections controllers localcloud kaitoctl gateway \
    && /opt/kaito/bin/pip install --no-cache-dir .
COPY presets presets
COPY workflows workflows
COPY activities activities
COPY worker worker
COPY connections connections
COPY controllers controllers
COPY localcloud localcloud
COPY kaitoctl kaitoctl
COPY gateway gateway
COPY deploy/crds deploy/crds
# Our own code runs from /app (the CRD is read beside the packages), installed without copying it twice.
RUN /opt/kaito/bin/pip install --no-cache-dir --no-deps --editable . \
    && /opt/kaito/bin/python -m compileall -q /app

FROM python:3.11.7-slim-bookworm AS runtime
ENV PATH=/opt/kaito/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 kaito \
    && useradd --system --uid 10001 --gid kaito --home-dir /app --no-create-home --shell /usr/sbin/nologin kaito
COPY --from=build /opt/kaito /opt/kaito
COPY --from=build --chown=root:root /app /app
# The emulator's state and certificates: a named volume starts with this directory's owner.
RUN mkdir -p /var/lib/azure-emulator && chown 10001:10001 /var/lib/azure-emulator
WORKDIR /app
USER 10001:10001
# The controllers' liveness endpoint when KAITO_CONTROLLER_LIVENESS=http://0.0.0.0:8080/healthz.
EXPOSE 8080
CMD ["python", "-m", "worker"]
