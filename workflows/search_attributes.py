"""Search attributes the workspace workflow keeps current, so the Temporal UI can filter by them.

They must be registered on the namespace (`kaitoctl dev up` does it; so do the test fixtures).
"""

from temporalio.common import SearchAttributeKey

WORKSPACE = SearchAttributeKey.for_keyword("KaitoWorkspace")
NAMESPACE = SearchAttributeKey.for_keyword("KaitoNamespace")
MODEL = SearchAttributeKey.for_keyword("KaitoModel")
INSTANCE_TYPE = SearchAttributeKey.for_keyword("KaitoInstanceType")
PHASE = SearchAttributeKey.for_keyword("KaitoPhase")

ALL = (WORKSPACE, NAMESPACE, MODEL, INSTANCE_TYPE, PHASE)
