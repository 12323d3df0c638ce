"""The Grafana dashboard: valid JSON, every panel has a query, and the PromQL name parser itself."""

import json
from typing import Any

from tests.conftest import ROOT
from tests.observability.promql_names import metric_names
from worker import metrics_names as m

DASHBOARD = ROOT / "deploy" / "grafana" / "kaito-temporal.json"


def dashboard_queries() -> list[str]:
    """Every PromQL query the dashboard runs: the panels' targets and the template variables'."""
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in data["panels"] for t in p["targets"]]
    for variable in data["templating"]["list"]:
        query = variable.get("query")
        if isinstance(query, dict):
            queries.append(query["query"])
    return queries


def test_the_parser_finds_the_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, phase) (rate(kaito_x_bucket{instance_type=~"$sku", a="b(c)"}'
        "[$__rate_interval]))) / ignoring (phase) group_left sum(up offset 5m) * 60"
    )
    assert metric_names(expr) == {"kaito_x_bucket", "up"}
    assert metric_names("label_values(kaito_y_count, instance_type)") == {"kaito_y_count"}


def test_every_panel_queries_something_and_every_metric_of_ours_is_on_the_dashboard() -> None:
    data = json.loads(DASHBOARD.read_text())
    assert all(p["targets"] and all(t["expr"].strip() for t in p["targets"]) for p in data["panels"])
    named = set().union(*(metric_names(q) for q in dashboard_queries()))
    for ours in m.OURS:
        assert any(name == ours or name.startswith(ours + "_") for name in named), ours
