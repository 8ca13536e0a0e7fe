"""`/users/delta` round trips, and the injected faults a resilient connector must survive."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.simulator.graph_client import GraphClient, MakeSim


def _delta_round(client: httpx.Client, url: str) -> tuple[list[dict[str, Any]], str]:
    items: list[dict[str, Any]] = []
    while True:
        reply = client.get(url)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        items.extend(page["value"])
        if "@odata.deltaLink" in page:
            return items, page["@odata.deltaLink"]
        url = page["@odata.nextLink"]


def test_delta_reports_changes_and_removals_since_the_last_round(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=300)
    client = graph(sim)
    initial, delta_link = _delta_round(client, "/users/delta?$select=id,accountEnabled")
    assert len(initial) == 300 and not any("@removed" in i for i in initial)
    users = [u for u in sim.tenant.users() if u.enabled]
    sim.tenant.disable_user(users[0].id)
    sim.tenant.delete_user(users[1].id)
    sim.tenant.delete_user(users[2].id, permanent=True)
    added = sim.tenant.add_user(display_name="Delta Newcomer")
    changes, next_link = _delta_round(client, delta_link)
    by_id = {c["id"]: c for c in changes}
    assert by_id[users[0].id]["accountEnabled"] is False
    assert by_id[users[1].id]["@removed"] == {"reason": "changed"}
    assert by_id[users[2].id]["@removed"] == {"reason": "deleted"}
    assert added.id in by_id
    assert len(changes) == 4
    assert _delta_round(client, next_link)[0] == []


def test_delta_refuses_top(make_sim: MakeSim, graph: GraphClient) -> None:
    assert graph(make_sim(users=5)).get("/users/delta", params={"$top": "5"}).status_code == 400


def test_expired_delta_tokens_answer_sync_state_not_found(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20)
    client = graph(sim)
    _items, delta_link = _delta_round(client, "/users/delta")
    sim.tenant.expire_delta_tokens()
    reply = client.get(delta_link)
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "syncStateNotFound"


def test_a_synchronization_reset_answers_410_with_a_location(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20)
    client = graph(sim)
    _items, delta_link = _delta_round(client, "/users/delta")
    sim.tenant.expire_delta_tokens(answer="reset")
    reply = client.get(delta_link)
    assert reply.status_code == 410 and "/users/delta?$deltatoken=" in reply.headers["Location"]
    restarted, _link = _delta_round(client, reply.headers["Location"])
    assert len(restarted) == 20


def test_a_user_hidden_by_replication_lag_reaches_delta_once_visible(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20)
    client = graph(sim)
    _items, delta_link = _delta_round(client, "/users/delta")
    late = sim.tenant.add_user(display_name="Lagging", visible_after_seconds=0.3)
    changes, delta_link = _delta_round(client, delta_link)
    assert late.id not in {c["id"] for c in changes}
    time.sleep(0.35)
    assert late.id in {c["id"] for c in _delta_round(client, delta_link)[0]}


@pytest.mark.parametrize(("fault", "status"), [("p_503", 503), ("p_504", 504), ("p_500", 500), ("p_429", 429)])
def test_injected_errors_answer_with_their_status(make_sim: MakeSim, graph: GraphClient, fault: str, status: int) -> None:
    sim = make_sim(users=5)
    client = graph(sim)
    setattr(sim.faults, fault, 1.0)
    reply = client.get("/users")
    assert reply.status_code == status
    if fault == "p_429":
        assert "Retry-After" not in reply.headers
    sim.faults.reset()
    assert client.get("/users").status_code == 200


def test_injected_429_can_carry_a_long_retry_after(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=5)
    sim.faults.p_429_retry_after = 1.0
    sim.faults.retry_after_seconds = 200
    reply = graph(sim).get("/users")
    assert reply.status_code == 429 and reply.headers["Retry-After"] == "200"


def test_dropped_connections_close_without_an_answer(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=5)
    client = graph(sim)
    sim.faults.p_drop = 1.0
    with pytest.raises(httpx.RemoteProtocolError):
        client.get("/users")
    sim.faults.p_drop = 0.0
    assert client.get("/users").status_code == 200


def test_latency_is_added_to_every_answer(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=5, latency=0.2)
    client = graph(sim)
    started = time.perf_counter()
    client.get("/users")
    assert time.perf_counter() - started >= 0.2


def test_faults_are_reproducible_from_their_seed(make_sim: MakeSim, graph: GraphClient) -> None:
    def run() -> list[int]:
        sim = make_sim(users=5, fault_seed=42)
        sim.faults.p_503 = 0.5
        client = graph(sim)
        return [client.get("/users").status_code for _ in range(12)]

    first, second = run(), run()
    assert first == second and {200, 503} == set(first)


def test_faults_can_be_limited_to_some_routes(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=5)
    sim.faults.p_503 = 1.0
    sim.faults.routes = frozenset({"GET /groups"})
    client = graph(sim)
    assert client.get("/users").status_code == 200
    assert client.get("/groups").status_code == 503
