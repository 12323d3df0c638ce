"""How a door (the controller, a test, a CLI) hands an InferenceSet to its one workflow.

Signal-with-start: the first spec starts `inferenceset/<ns>/<name>`, later ones (a `kubectl scale`, an
edited template) reach the running workflow as `spec-changed`, so there is never a second one.
"""

from temporalio.client import Client, WorkflowHandle

from workflows.inferenceset_contracts import INFERENCESET_WORKFLOW, InferenceSetResult, SignalName, set_input
from workflows.inferenceset_spec import InferenceSet, workflow_id_for
from workflows.workspace_contracts import TASK_QUEUE


async def apply_inferenceset(
    client: Client, iset: InferenceSet
) -> WorkflowHandle[object, InferenceSetResult]:
    spec = set_input(iset)
    return await client.start_workflow(
        INFERENCESET_WORKFLOW,
        spec,
        id=workflow_id_for(iset.namespace, iset.name),
        task_queue=TASK_QUEUE,
        start_signal=SignalName.SPEC_CHANGED,
        start_signal_args=[spec],
        result_type=InferenceSetResult,
    )
