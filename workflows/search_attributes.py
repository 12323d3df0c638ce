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
# Set while the workspace waits for GPU quota, cleared when it leaves the queue: the per-family queue is
# the visibility query `KaitoCapacityFamily = '<family>'`, ordered by the queued-at stamp (ISO 8601 UTC,
# so text order is time order), and each waiter's cores show what the ones behind it must leave free.
CAPACITY_FAMILY = SearchAttributeKey.for_keyword("KaitoCapacityFamily")
CAPACITY_QUEUED_AT = SearchAttributeKey.for_keyword("KaitoCapacityQueuedAt")
CAPACITY_CORES = SearchAttributeKey.for_keyword("KaitoCapacityCores")

ALL = (WORKSPACE, NAMESPACE, MODEL, INSTANCE_TYPE, PHASE, CAPACITY_FAMILY, CAPACITY_QUEUED_AT, CAPACITY_CORES)


def of_workspace(ws: Workspace) -> list[SearchAttributePair[str]]:
    """What a workspace is (name, namespace, model, SKU): set at start by the doors, and by the workflow."""
    return [
        SearchAttributePair(WORKSPACE, ws.name),
        SearchAttributePair(NAMESPACE, ws.namespace),
        SearchAttributePair(MODEL, ws.preset_name or ""),
        SearchAttributePair(INSTANCE_TYPE, ws.resource.instance_type or ""),
    ]
