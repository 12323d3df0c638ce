"""The whole local cloud, one per module, as the end-to-end tests run it."""

from tests.e2e.conftest import stack  # noqa: F401  (fixture)
