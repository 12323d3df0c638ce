# One image for the provisioning worker, the bootstrap worker and the controllers (and the Azure emulator
# of the compose file's `emulator` profile); the command picks the process:
#   python -m worker                   the provisioning worker (task queue kaito-provisioning)
#   python -m worker.bootstrap_worker  the bootstrap worker (task queue kaito-bootstrap)
#   python -m controllers              the kopf controllers
#   python -m localcloud.azure         the ARM + Entra emulator
# Build: docker build -t kaito-temporal:0.1.0 .
# The base is pinned to an exact tag: the same Python minor and patch the test suite runs on.

FROM python:3.11.7-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/kaito
WORKDIR /app
# Dependencies first (pinned in pyproject.toml), so a source change reuses this layer.
COPY pyproject.toml README.md ./
RUN mkdir presets workflows activities worker connections controllers localcloud kaitoctl \
    && /opt/kaito/bin/pip install --no-cache-dir .
COPY presets presets
COPY workflows workflows
COPY activities activities
COPY worker worker
COPY connections connections
COPY controllers controllers
COPY localcloud localcloud
COPY kaitoctl kaitoctl
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
WORKDIR /app
USER 10001:10001
# The controllers' liveness endpoint when KAITO_CONTROLLER_LIVENESS=http://0.0.0.0:8080/healthz.
EXPOSE 8080
CMD ["python", "-m", "worker"]
