"""A time-skipping Temporal test server (the temporal-test-server wheel) with the pydantic data converter,
as every test of workflows and activities under Temporal uses it.

`time_skipping_server()` for a conftest that prepares the server further (e.g. registers search
attributes) in its own fixture; `temporal_env` for one that does not (import it into the conftest).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.conftest import venv_binary

# The SDK gives a server 5 s to answer; on a loaded 2-core machine (a local cloud's teardown still
# running beside it) the test server has missed that, so it gets what a slow start can need.
SERVER_STARTUP = timedelta(seconds=60)


@asynccontextmanager
async def time_skipping_server() -> AsyncIterator[WorkflowEnvironment]:
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(venv_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
        test_server_startup_timeout=SERVER_STARTUP,
    )
    try:
        yield environment
    finally:
        await environment.shutdown()


@pytest.fixture
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server() as environment:
        yield environment
