"""Search attributes the workspace workflow keeps current, so the Temporal UI can filter by them.

They must be registered on the namespace (`kaitoctl dev up` does it; so do the test fixtures).
"""

from temporalio.common import SearchAttributeKey, SearchAttributePair

from workflows.workspace_spec import Workspace

WORKSPACE = SearchAttributeKey.for_keyword("KaitoWorkspace")
NAMESPACE = SearchAttributeKey.for_keyword("KaitoNamespace")
MODEL = SearchAttributeKey.for_keyword("KaitoModel")
INSTANCE_TYPE = SearchAttributeKey.for_keyword("KaitoInstanceType")
PHASE = SearchAttributeKey.for_keyword("KaitoPhase")

ALL = (WORKSPACE, NAMESPACE, MODEL, INSTANCE_TYPE, PHASE)


def of_workspace(ws: Workspace) -> list[SearchAttributePair[str]]:
    """What a workspace is (name, namespace, model, SKU): set at start by the doors, and by the workflow."""
    return [
        SearchAttributePair(WORKSPACE, ws.name),
        SearchAttributePair(NAMESPACE, ws.namespace),
        SearchAttributePair(MODEL, ws.preset_name or ""),
        SearchAttributePair(INSTANCE_TYPE, ws.resource.instance_type or ""),
    ]
