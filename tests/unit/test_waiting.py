"""The tests' one wait helper: returns the first truthy value, tolerates only what it is told to, and
fails at the deadline saying what it waited for and what it saw last."""

import itertools

import pytest

from tests.waiting import wait_for, wait_for_async


def test_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert wait_for(lambda: next(counter) >= 3 and "third", "the third poll", interval=0) == "third"


def test_a_tolerated_error_means_not_yet_and_others_escape() -> None:
    attempts = itertools.count()

    def check() -> str:
        if next(attempts) < 2:
            raise KeyError("settling")
        return "ready"

    assert wait_for(check, "the state to settle", interval=0, tolerate=(KeyError,)) == "ready"
    with pytest.raises(ZeroDivisionError):
        wait_for(lambda: 1 // 0, "an error nobody tolerates", interval=0)


def test_the_failure_names_the_wait_the_last_value_and_the_explanation() -> None:
    with pytest.raises(AssertionError) as failed:
        wait_for(lambda: [], "pods to appear", timeout=0.05, interval=0.01, explain=lambda: "no nodes")
    assert str(failed.value) == "timed out after 0.05s waiting for pods to appear; last: []\nno nodes"


async def test_the_async_form_awaits_the_check() -> None:
    counter = itertools.count()

    async def check() -> int:
        return next(counter) >= 2 and 42

    assert await wait_for_async(check, "the second poll", interval=0) == 42
