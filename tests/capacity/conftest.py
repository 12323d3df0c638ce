"""The local cloud of tests/e2e (one stack per module), for the capacity tests that need it."""

from tests.e2e.conftest import stack

__all__ = ["stack"]
