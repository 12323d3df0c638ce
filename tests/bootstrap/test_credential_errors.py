"""Entra refusing the worker's credential: one clear, final error after a short propagation grace; and
the provisioning worker's DefaultAzureCredential is the workload identity from the webhook's variables."""

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity.aio import WorkloadIdentityCredential
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.azure_errors import CREDENTIAL_GRACE, classify, entra_refusal
from worker.clients import azure_credential, credential_source
from worker.settings import WorkerSettings

# What DefaultAzureCredential raises when the federated credential does not match (azure-identity 1.27).
NO_MATCH = ClientAuthenticationError(
    message="DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
    "Attempted credentials:\n\tEnvironmentCredential: EnvironmentCredential authentication unavailable.\n"
    "\tWorkloadIdentityCredential: Microsoft Entra ID error '(invalid_request) AADSTS70021: No matching "
    "federated identity record found for presented assertion. Assertion Issuer: 'https://127.0.0.1:6443'. "
    "Assertion Subject: 'system:serviceaccount:kaito-system:intruder'. Assertion Audience: "
    "'api://AzureADTokenExchange'. https://docs.microsoft.com/azure/active-directory/develop/"
    "workload-identity-federation'\nTo mitigate this issue, please refer to the troubleshooting guidelines"
)
ISSUER_DOWN = ClientAuthenticationError(
    message="... WorkloadIdentityCredential: Microsoft Entra ID error '(invalid_client) AADSTS50166: Request "
    "to External OIDC endpoint failed.'"
)


def test_the_refusal_code_is_read_from_the_chain_message() -> None:
    assert entra_refusal(NO_MATCH) == 70021
    assert entra_refusal(ISSUER_DOWN) is None, "an unreachable issuer is not a refusal"
    assert entra_refusal(ValueError("AADSTS70021")) is None


def test_outside_an_activity_a_refusal_is_final_and_says_what_to_do() -> None:
    err = classify(NO_MATCH, "read agent pool ws1")
    assert err.type == "CredentialRefused" and err.non_retryable
    assert "AADSTS70021: No matching federated identity record" in err.message
    assert "system:serviceaccount:kaito-system:intruder" in err.message
    assert "kaitoctl bootstrap" in err.message
    assert "troubleshooting" not in err.message, "the chain's boilerplate is dropped"
    assert err.details[0]["code"] == "AADSTS70021"


async def attempt_after(elapsed: timedelta, grace: timedelta | None = None) -> ApplicationError:
    first = datetime(2026, 1, 1, tzinfo=UTC)
    info = dataclasses.replace(
        ActivityEnvironment.default_info(), scheduled_time=first, started_time=first + elapsed
    )
    env = ActivityEnvironment()
    env.info = info

    async def fails() -> ApplicationError:
        return classify(NO_MATCH, "read agent pool ws1", credential_grace=grace)

    return await env.run(fails)


async def test_retried_only_within_the_propagation_grace() -> None:
    early = await attempt_after(timedelta(seconds=1))
    assert not early.non_retryable and early.next_retry_delay == timedelta(seconds=2)
    late = await attempt_after(CREDENTIAL_GRACE)
    assert late.non_retryable
    assert (await attempt_after(timedelta(0), grace=timedelta(0))).non_retryable


def test_a_transient_credential_failure_stays_retryable() -> None:
    err = classify(ISSUER_DOWN, "read agent pool ws1")
    assert not err.non_retryable and err.type != "CredentialRefused"


WEBHOOK_ENV = {
    "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
    "AZURE_TENANT_ID": "22222222-2222-2222-2222-222222222222",
    "AZURE_AUTHORITY_HOST": "https://127.0.0.1:8443",
}


async def test_default_credential_is_the_workload_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in (
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_USERNAME",
        "AZURE_TOKEN_CREDENTIALS",
    ):
        monkeypatch.delenv(name, raising=False)
    token_file = tmp_path / "azure-identity-token"
    env = {**WEBHOOK_ENV, "AZURE_FEDERATED_TOKEN_FILE": str(token_file)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert credential_source(env).startswith("workload identity 11111111-")
    credential = azure_credential(WorkerSettings(subscription_id="s", resource_group="g", cluster_name="c"))
    try:
        chain = list(credential.credentials)
        kinds = [type(c).__name__ for c in chain]
        assert kinds[:2] == ["EnvironmentCredential", "WorkloadIdentityCredential"]
        assert getattr(chain[0], "_credential", None) is None, (
            "no secret: EnvironmentCredential is unavailable"
        )
        workload = chain[1]
        assert isinstance(workload, WorkloadIdentityCredential)
    finally:
        await credential.close()


def test_credential_source_names_a_secret_when_there_is_one() -> None:
    assert credential_source({"AZURE_CLIENT_ID": "op", "AZURE_CLIENT_SECRET": "x"}).startswith(
        "service principal"
    )
