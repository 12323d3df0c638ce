"""A time-skipping Temporal test server for the bootstrap workflow's ordering and retry semantics."""

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.temporal_fixtures import time_skipping_server


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping_server() as environment:
        yield environment
