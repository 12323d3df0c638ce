"""One prompt to a workspace's model, through the apiserver's service proxy (the health check's path)."""

from kubernetes import config as kube_config

from connections.service_proxy import ServiceUnreachable, answer_of, chat_request, service_proxy
from workflows.naming import SERVICE_PORT
from workflows.workspace_contracts import WorkspaceStatus


class ChatError(RuntimeError):
    """The model did not answer; the message says why."""


def ask(status: WorkspaceStatus, prompt: str, kubeconfig: str) -> tuple[str, str]:
    """(model, answer) of one chat completion."""
    api = kube_config.new_client_from_config(config_file=kubeconfig)
    try:
        reply = service_proxy(
            api, status.namespace, status.name, "POST", "v1/chat/completions",
            chat_request(status.served_model or status.model or "", prompt, max_tokens=256),
            port=SERVICE_PORT,
        )  # fmt: skip
        return answer_of(reply)
    except (ServiceUnreachable, ValueError, OSError) as error:
        raise ChatError(f"workspace {status.namespace}/{status.name} did not answer: {error}") from None
    finally:
        api.close()
