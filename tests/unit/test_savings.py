"""What scaling to zero saves: GPU-hours and dollars for every node of the plan, for the time it was off."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import load_example
from workflows.savings import Savings, saved_while_suspended
from workflows.workspace_contracts import ProvisioningPlan
from workflows.workspace_plan import build_plan
from workflows.workspace_validation import parse_workspace

SINCE = datetime(2025, 3, 3, 18, 0, tzinfo=UTC)


def plan(nodes: int, gpus_per_node: int | None, hourly_usd: float | None) -> ProvisioningPlan:
    falcon = build_plan(parse_workspace(load_example("workspace-falcon-7b.yaml")))
    return falcon.model_copy(
        update={"node_count": nodes, "gpus_per_node": gpus_per_node, "hourly_usd": hourly_usd}
    )


def test_ten_hours_of_one_two_gpu_node() -> None:
    saved = saved_while_suspended(plan(1, 2, 6.12), SINCE, SINCE + timedelta(hours=10))
    assert saved.gpu_hours == pytest.approx(20.0)
    assert saved.usd == pytest.approx(61.2)


def test_every_node_and_every_gpu_counts_for_fractions_of_an_hour() -> None:
    saved = saved_while_suspended(plan(3, 4, 12.5), SINCE, SINCE + timedelta(minutes=150))
    assert saved.gpu_hours == pytest.approx(2.5 * 3 * 4)
    assert saved.usd == pytest.approx(2.5 * 3 * 12.5)


def test_a_sku_outside_the_catalog_counts_one_gpu_per_node_and_no_price() -> None:
    saved = saved_while_suspended(plan(2, None, None), SINCE, SINCE + timedelta(hours=4))
    assert saved == Savings(gpu_hours=8.0, usd=0.0)


def test_no_time_or_a_clock_that_went_backwards_saves_nothing() -> None:
    assert saved_while_suspended(plan(1, 2, 6.12), SINCE, SINCE) == Savings()
    assert saved_while_suspended(plan(1, 2, 6.12), SINCE, SINCE - timedelta(hours=1)) == Savings()


def test_savings_add_up_across_suspensions() -> None:
    total = Savings(gpu_hours=20.0, usd=61.2) + Savings(gpu_hours=4.0, usd=12.24)
    assert total.gpu_hours == pytest.approx(24.0)
    assert total.usd == pytest.approx(73.44)
