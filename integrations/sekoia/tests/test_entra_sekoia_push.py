"""How a POST's answer is classified: what is retried in place, split, or a configuration error."""

from __future__ import annotations

import pytest
from entra_sekoia.push import classify


def test_an_accepted_push_carries_its_task() -> None:
    outcome = classify(200, '{"task_id": "t-1"}', None)
    assert (outcome.kind, outcome.task_id) == ("accepted", "t-1")


def test_an_accepted_push_without_a_task_has_nothing_to_follow() -> None:
    assert classify(200, "", None).task_id is None


def test_a_429_keeps_its_retry_after() -> None:
    outcome = classify(429, "{}", "1200")
    assert (outcome.kind, outcome.retry_after) == ("throttled", 1200.0)


@pytest.mark.parametrize("status", [400, 413, 422])
def test_a_refusal_of_the_content_is_rejected_not_retried(status: int) -> None:
    assert classify(status, '{"message": "bad item"}', None).kind == "rejected"


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_unauthorised(status: int) -> None:
    assert classify(status, "{}", None).kind == "unauthorised"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_a_server_side_failure_is_transient(status: int) -> None:
    assert classify(status, "{}", "5").kind == "transient"
