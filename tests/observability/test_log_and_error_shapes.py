"""The JSON log line and the ARM-error recognition, one function each."""

import json
import logging

from temporalio.exceptions import ApplicationError

from worker.logging_json import JsonFormatter, workspace_of
from worker.metrics import arm_error


def test_a_workspace_activity_line_carries_the_workflow_id_and_the_workspace() -> None:
    record = logging.LogRecord(
        "temporalio.activity", logging.WARNING, __file__, 1, "pool %s", ("busy",), None
    )
    record.temporal_activity = {
        "activity_type": "ensure_agent_pool", "attempt": 2, "workflow_id": "workspace/team-a/falcon",
        "workflow_run_id": "r1", "workflow_type": "WorkspaceWorkflow",
    }  # fmt: skip
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "pool busy" and line["level"] == "WARNING"
    assert line["workflow_id"] == "workspace/team-a/falcon" and line["workspace"] == "team-a/falcon"
    assert line["activity"] == "ensure_agent_pool" and line["attempt"] == 2 and line["run_id"] == "r1"
    assert workspace_of("bootstrap/s/g/c") is None and workspace_of("workspace/a/b/c") is None


def test_only_errors_classified_from_arm_count_as_arm_errors() -> None:
    arm = ApplicationError("x", {"code": "QuotaExceeded", "message": "m", "status": 400}, non_retryable=True)
    assert arm_error(arm) == ("QuotaExceeded", False)
    assert arm_error(ApplicationError("y", type="DeadlineExceeded")) is None
    assert arm_error(ValueError("z")) is None
