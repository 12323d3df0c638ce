"""The sweep's request counter, read from vLLM's `/metrics` with Prometheus' own parser."""

import pytest

from activities.sweep import request_count

METRICS = """\
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{finished_reason="stop",model_name="falcon-7b"} 3.0 1700000000000
vllm:request_success_total{finished_reason="length",model_name="falcon-7b"} 2
# HELP vllm:request_success_created Count of successfully processed requests.
# TYPE vllm:request_success_created gauge
vllm:request_success_created{finished_reason="stop",model_name="falcon-7b"} 1.7e+09
# HELP vllm:num_requests_running Number of requests currently running on GPU.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="falcon-7b"} 40
vllm:request_success_total_extra 1000
"""


def test_counts_sample_values_not_timestamps_and_ignores_other_metrics() -> None:
    assert request_count(METRICS) == 5


def test_an_untyped_counter_counts_too() -> None:
    assert request_count("vllm:request_success_total 4 1700000000000\n") == 4


def test_no_counter_is_zero() -> None:
    assert request_count("") == 0
    assert request_count('vllm:num_requests_running{model_name="m"} 1\n') == 0


def test_text_that_is_not_prometheus_is_an_error() -> None:
    with pytest.raises(ValueError):
        request_count("<html>502 Bad Gateway</html>\n")
