"""The CLI's process tests use the real control plane and the dev server: their fixtures, shared."""

from tests.controlplane.conftest import bin_dir, control_plane
from tests.devserver.conftest import dev_server

__all__ = ["bin_dir", "control_plane", "dev_server"]
