"""The emulator's tests use the shared emulator fixtures (tests/azure_fixtures.py) as they are: a test OIDC
issuer, an emulator with second-scale operations, and the real async SDK clients as the operator."""

from tests.azure_fixtures import *  # noqa: F403 (the shared fixtures, see its __all__)
