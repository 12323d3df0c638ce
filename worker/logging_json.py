"""Structured JSON logs, one object a line, carrying the workflow id and the workspace.

The SDK's workflow and activity loggers attach who logged (`temporal_workflow` / `temporal_activity`:
workflow id, run id, type, activity, attempt); this formatter lifts the workflow id and, for a
workspace's workflow (`workspace/<namespace>/<name>`), the workspace itself to top-level keys, so a log
search for one workspace finds its workflow's lines, its activities' lines, and the worker's.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow

from workflows.workspace_contracts import WORKSPACE_WORKFLOW

WORKSPACE_PREFIX = "workspace/"


def workspace_of(workflow_id: str) -> str | None:
    """'namespace/name' of a workspace workflow's id, else None."""
    if not workflow_id.startswith(WORKSPACE_PREFIX):
        return None
    rest = workflow_id.removeprefix(WORKSPACE_PREFIX)
    return rest if rest.count("/") == 1 else None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        temporal = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None)
        if isinstance(temporal, dict):
            workflow_id = str(temporal.get("workflow_id") or "")
            data["workflow_id"] = workflow_id
            data["run_id"] = temporal.get("run_id") or temporal.get("workflow_run_id")
            data["workflow_type"] = temporal.get("workflow_type")
            if "activity_type" in temporal:
                data["activity"] = temporal["activity_type"]
                data["attempt"] = temporal.get("attempt")
            workspace = (
                workspace_of(workflow_id) if temporal.get("workflow_type") == WORKSPACE_WORKFLOW else None
            )
            if workspace:
                data["workspace"] = workspace
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure_logging(log_format: str) -> None:
    """JSON lines on stderr (`json`), or the classic text line (`text`) for a person at a terminal."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
        # The ids go to their own keys; the SDK would otherwise append them to every message too.
        workflow.logger.workflow_info_on_message = False
        activity.logger.activity_info_on_message = False
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
