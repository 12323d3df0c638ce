"""The controller process: `python -m controllers` (kopf, cluster-wide, one replica).

Progress and diff-base bookkeeping live in annotations, because the Workspace CRD's structural schema
would prune anything kopf wrote under `status`; the finalizer has KAITO's name.
"""

import logging
import os
from typing import Any

import kopf

import controllers.handlers as handlers
import controllers.inferenceset  # noqa: F401  (registers the InferenceSet handlers)
from connections.temporal import connect, settings_or_exit
from controllers.leadership import hold_leadership_if_configured
from controllers.signals import SignalSender


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = handlers.FINALIZER
    # Not "kaito.sh": kopf ignores changes to annotations under its own prefix, and users' kaito.sh/resume
    # (and the scale-to-zero annotations) must count as changes.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="controller.kaito.sh")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="controller.kaito.sh", key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 60
    client = await connect()
    memo["temporal"] = client
    memo["signals"] = SignalSender(client)


def _configure_logging() -> None:
    """JSON lines by default, as the worker writes them (`KAITO_LOG_FORMAT=text` for people): kopf's
    own JSON format, each line about an object naming it under `object` (kind, namespace, name)."""
    if os.environ.get("KAITO_LOG_FORMAT", "json").strip().lower() == "text":
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    else:
        kopf.configure(verbose=False, log_format=kopf.LogFormat.JSON, log_refkey="object")


def main() -> None:
    _configure_logging()
    settings_or_exit()  # a half-set Temporal configuration stops here, in one line
    # KAITO_CONTROLLER_LIVENESS, e.g. http://0.0.0.0:8080/healthz, serves kopf's liveness probe.
    hold_leadership_if_configured()  # with two replicas, the standby waits here for the Lease
    kopf.run(clusterwide=True, standalone=True, liveness_endpoint=os.environ.get("KAITO_CONTROLLER_LIVENESS"))


if __name__ == "__main__":
    main()
