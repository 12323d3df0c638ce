"""The names of our metrics, in one place: the code that records them, the dashboard and its test.

Every one is served on the worker's one Prometheus endpoint beside the Temporal SDK's own (`temporal_*`).
"""

PHASE_DURATION = "kaito_provisioning_phase_duration_seconds"
PHASE_TRANSITIONS = "kaito_workspace_phase_transitions_total"
ARM_ERRORS = "kaito_arm_errors_total"
WORKSPACES = "kaito_workspaces"
GPU_HOURS_SAVED = "kaito_gpu_hours_saved"
USD_SAVED = "kaito_usd_saved"

# Phases of a GPU provisioning take seconds (validation) to half an hour (a GPU pool in a busy region).
PHASE_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 180, 300, 450, 600, 900, 1200, 1800, 3600)

OURS = (PHASE_DURATION, PHASE_TRANSITIONS, ARM_ERRORS, WORKSPACES, GPU_HOURS_SAVED, USD_SAVED)
