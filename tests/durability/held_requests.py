"""Holding one kind of Kubernetes request of the worker in the apiserver, so a test can kill the worker
while that request is in flight, deterministically.

API Priority and Fairness does it with the apiserver's own machinery: a FlowSchema matching the worker's
service account and one verb on one resource sends those requests to a priority level with no seats,
where they queue; `in_queue` reads the apiserver's metric of queued requests; deleting the two objects
lets later requests through. The request itself is the worker's real one, through its own token.
"""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.e2e.conftest import Stack

WORKER = {"kind": "ServiceAccount", "serviceAccount": {"name": "kaito-worker", "namespace": "kaito-system"}}
FLOWCONTROL = "flowcontrol.apiserver.k8s.io/v1"


def _objects(name: str, group: str, resource: str, verbs: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": FLOWCONTROL,
            "kind": "PriorityLevelConfiguration",
            "metadata": {"name": name},
            "spec": {
                "type": "Limited",
                "limited": {
                    "nominalConcurrencyShares": 0,
                    "lendablePercent": 0,
                    "borrowingLimitPercent": 0,
                    "limitResponse": {
                        "type": "Queue",
                        "queuing": {"queues": 1, "handSize": 1, "queueLengthLimit": 50},
                    },
                },
            },
        },
        {
            "apiVersion": FLOWCONTROL,
            "kind": "FlowSchema",
            "metadata": {"name": name},
            "spec": {
                "priorityLevelConfiguration": {"name": name},
                "matchingPrecedence": 50,  # before every built-in schema but `exempt`
                "distinguisherMethod": {"type": "ByUser"},
                "rules": [
                    {
                        "subjects": [WORKER],
                        "resourceRules": [
                            {
                                "verbs": verbs,
                                "apiGroups": [group],
                                "resources": [resource],
                                "namespaces": ["*"],
                            }
                        ],
                    }
                ],
            },
        },
    ]


def in_queue(stack: Stack, name: str) -> int:
    """How many requests wait at priority level `name` (the apiserver's own metric)."""
    metrics = stack.kubectl("get", "--raw", "/metrics").stdout
    pattern = re.compile(
        r'^apiserver_flowcontrol_current_inqueue_requests\{[^}]*priority_level="' + re.escape(name)
        + r'"[^}]*\} (\S+)$', re.M,
    )  # fmt: skip
    return int(sum(float(value) for value in pattern.findall(metrics)))


@contextmanager
def held(stack: Stack, name: str, group: str, resource: str, verbs: list[str]) -> Iterator[None]:
    """While inside, the worker's `verbs` on `group/resource` wait in the apiserver."""
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": _objects(name, group, resource, verbs)})
    stack.kubectl("apply", "-f", "-", stdin=body)
    try:
        yield
    finally:
        release(stack, name)


def release(stack: Stack, name: str) -> None:
    stack.kubectl(
        "delete", "flowschema,prioritylevelconfiguration", name, "--ignore-not-found", "--wait=false"
    )
