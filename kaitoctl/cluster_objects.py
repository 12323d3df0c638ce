"""The Workspace objects in the cluster, for the ones that have no workflow.

A Workspace refused at admission (the controller's answer to a spec KAITO's webhook would refuse) exists
only as an object with a `WorkspaceSucceeded=False` condition saying why; `kaitoctl workspace list`
shows it from here, with that reason.
"""

from typing import Any

from kubernetes import client as kube_client
from kubernetes import config as kube_config
from pydantic import ValidationError
from urllib3.exceptions import HTTPError

from workflows.conditions import STATE_FAILED, STATE_PENDING, WORKSPACE_SUCCEEDED
from workflows.workspace_contracts import Condition, Phase, WorkspaceStatus
from workflows.workspace_spec import API_GROUP, PLURAL, STORAGE_VERSION


class ClusterUnreadable(RuntimeError):
    """The Workspace objects could not be listed; the message says where and why."""


def _conditions(raw: list[dict[str, Any]]) -> list[Condition]:
    conditions = []
    for item in raw:
        try:
            conditions.append(Condition.model_validate(item))
        except ValidationError:
            continue  # a condition some other writer set without the fields we show
    return conditions


def status_of_object(obj: dict[str, Any]) -> WorkspaceStatus:
    """What the object itself says: its state and, for a refused one, the reason and message."""
    meta, status = obj.get("metadata", {}), obj.get("status") or {}
    conditions = _conditions(status.get("conditions") or [])
    state = str(status.get("state") or STATE_PENDING)
    message = "not picked up by the controller yet"
    for c in conditions:
        if c.type == WORKSPACE_SUCCEEDED and c.status == "False":
            message = c.message or c.reason
    preset = ((obj.get("inference") or {}).get("preset") or {}).get("name")
    return WorkspaceStatus(
        namespace=meta.get("namespace", "default"),
        name=meta["name"],
        phase=Phase.FAILED if state == STATE_FAILED else Phase.PENDING,
        state=state,
        message=message,
        model=preset,
        instance_type=(obj.get("resource") or {}).get("instanceType"),
        target_nodes=int(status.get("targetNodeCount") or 0),
        worker_nodes=list(status.get("workerNodes") or []),
        conditions=conditions,
    )


def workspace_objects(kubeconfig: str) -> list[dict[str, Any]]:
    """Every Workspace object in every namespace (the storage version)."""
    try:
        api = kube_config.new_client_from_config(config_file=kubeconfig)
    except (kube_config.ConfigException, OSError) as error:
        raise ClusterUnreadable(f"kubeconfig {kubeconfig}: {error}") from None
    try:
        listed: dict[str, Any] = kube_client.CustomObjectsApi(api).list_cluster_custom_object(  # type: ignore[assignment]
            API_GROUP, STORAGE_VERSION, PLURAL, _request_timeout=10
        )
        items: list[dict[str, Any]] = listed.get("items", [])
        return items
    except kube_client.ApiException as error:
        raise ClusterUnreadable(f"listing Workspaces: {error.status} {error.reason}") from None
    except (OSError, HTTPError) as error:
        raise ClusterUnreadable(f"listing Workspaces at {api.configuration.host}: {error}") from None
    finally:
        api.close()
