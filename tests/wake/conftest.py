"""The wake tests' fixtures: the time-skipping server of the workflow tests, and one local cloud shared by
the module of end-to-end wake tests (started as `kaitoctl dev up` starts it, stopped by PID)."""

from tests.e2e.conftest import stack  # noqa: F401  (one local cloud per module)
from tests.workflow.conftest import env  # noqa: F401  (the time-skipping server)
