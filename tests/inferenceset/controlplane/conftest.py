"""The session's real control plane, the same fixtures the control-plane tests use."""

from tests.controlplane.conftest import api_client, bin_dir, control_plane, core, namespace  # noqa: F401
