"""Graph's resource-unit budgets, the reporting limit, `$batch` and the counters."""

from __future__ import annotations

import time

import pytest

from entrasim import (
    SimulatedGraph,
    floor_from_counters,
    request_cost,
    ru_budget,
    throttling_floor_seconds,
)
from entrasim.throttle import bounding_limit
from tests.simulator.graph_client import GraphClient, MakeSim

REPORT = "/reports/authenticationMethods/userRegistrationDetails"


def test_request_costs_follow_the_published_table() -> None:
    assert request_cost("GET /users", select=False, expand=False, top=None) == 2
    assert request_cost("GET /users", select=True, expand=False, top=999) == 1
    assert request_cost("GET /groups/{id}/transitiveMembers", select=False, expand=True, top=None) == 6
    assert request_cost("GET /users/{id}/memberOf", select=True, expand=False, top=10) == 1
    assert request_cost("GET /organization", select=True, expand=False, top=5) == 1


def test_budgets_grow_with_tenant_size() -> None:
    assert [ru_budget(n) for n in (10, 50, 500, 501, 100_000)] == [3500, 5000, 5000, 8000, 8000]


def test_throttling_floor_counts_whole_windows_beyond_the_first() -> None:
    assert throttling_floor_seconds(8000, 0, 100_000) == 0
    assert throttling_floor_seconds(8001, 0, 100_000) == 10
    assert throttling_floor_seconds(100, 21, 100_000) == 40


def test_the_documented_floor_is_set_by_the_slowest_of_all_buckets() -> None:
    assert throttling_floor_seconds(100, 21, 100_000, sign_in_activity=21) == 120
    # The last minute's ten pages pass the reports window 5 at a time.
    assert throttling_floor_seconds(100, 20, 100_000, sign_in_activity=20) == 70
    assert throttling_floor_seconds(100, 0, 100_000, protection=31) == 30
    snapshot = {"GET /users": {"ru": 200, "reporting": 200, "sign_in_activity": 200},
                "GET /identityProtection/riskyUsers/{id}": {"ru": 20, "protection": 20}}
    assert floor_from_counters(snapshot, 100_000) == 19 * 60 + 10
    assert bounding_limit(snapshot, 100_000) == "signInActivity 10/min"


def test_spent_budget_answers_429_with_retry_after(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, throttling=True)
    sim.throttle.budget = 10
    client = graph(sim)
    statuses = [client.get("/users").status_code for _ in range(5)]
    assert statuses == [200] * 5
    throttled = client.get("/users")
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["Retry-After"]) <= 10
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    snapshot = sim.counters.snapshot()["GET /users"]
    assert snapshot["ru"] == 10 and snapshot["throttled"] == 1


def test_near_the_limit_answers_carry_the_throttle_percentage(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, throttling=True)
    sim.throttle.budget = 10
    client = graph(sim)
    headers = [client.get("/users").headers for _ in range(5)]
    assert "x-ms-throttle-limit-percentage" not in headers[0]
    assert headers[4]["x-ms-throttle-limit-percentage"] == "1.0"
    assert headers[0]["x-ms-resource-unit"] == "2"


def test_reporting_endpoints_allow_five_requests_per_ten_seconds(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, throttling=True)
    client = graph(sim)
    statuses = [client.get(REPORT).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert client.get("/users").status_code == 200


def test_throttling_is_off_by_default(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim_p2)
    assert all(client.get(REPORT, params={"$top": "1"}).status_code == 200 for _ in range(7))


def _batch(client: object, items: list[dict[str, object]]) -> dict[str, object]:
    reply = client.post("/$batch", json={"requests": items})  # type: ignore[attr-defined]
    assert reply.status_code == 200, reply.text
    body: dict[str, object] = reply.json()
    return body


def test_batch_answers_each_item_with_its_own_status(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    user = next(iter(sim_p2.tenant.truth()))
    body = _batch(graph(sim_p2), [
        {"id": "1", "method": "GET", "url": f"/users/{user}/memberOf?$select=id,displayName"},
        {"id": "2", "method": "GET", "url": "/users/00000000-0000-0000-0000-000000000000"},
        {"id": "3", "method": "GET", "url": f"{sim_p2.url}/v1.0/users/{user}/authentication/methods"},
    ])
    by_id = {r["id"]: r for r in body["responses"]}  # type: ignore[attr-defined]
    assert by_id["1"]["status"] == 200 and "value" in by_id["1"]["body"]
    assert by_id["2"]["status"] == 404
    assert by_id["2"]["body"]["error"]["code"] == "Request_ResourceNotFound"
    assert by_id["3"]["status"] == 200


def test_batch_items_are_throttled_individually_inside_a_200(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, throttling=True)
    sim.throttle.budget = 5
    user = next(iter(sim.tenant.truth()))
    body = _batch(graph(sim), [{"id": str(i), "method": "GET", "url": f"/users/{user}/memberOf"} for i in range(4)])
    statuses = [r["status"] for r in body["responses"]]  # type: ignore[attr-defined]
    assert statuses == [200, 200, 429, 429]
    throttled = body["responses"][2]  # type: ignore[index]
    assert int(throttled["headers"]["Retry-After"]) >= 1
    counts = sim.counters.snapshot()
    assert counts["GET /users/{id}/memberOf"]["batch_items"] == 4
    assert counts["GET /users/{id}/memberOf"]["throttled"] == 2
    assert counts["POST /$batch"]["requests"] == 1


def test_batch_of_more_than_20_is_refused(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    items = [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(21)]
    reply = graph(sim_p2).post("/$batch", json={"requests": items})
    assert reply.status_code == 400


def test_batch_with_duplicate_ids_is_refused(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    items = [{"id": "1", "method": "GET", "url": "/users?$top=1"}] * 2
    assert graph(sim_p2).post("/$batch", json={"requests": items}).status_code == 400


def test_counters_reset_and_count_bytes(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20)
    client = graph(sim)
    size = len(client.get("/users").content)
    assert sim.counters.snapshot()["GET /users"]["bytes_out"] == size
    sim.counters.reset()
    assert sim.counters.snapshot() == {}


def test_counters_are_readable_from_another_process(sim_p2: SimulatedGraph, graph: GraphClient) -> None:
    client = graph(sim_p2)
    client.get("/users", params={"$top": "1"})
    body = client.get(sim_p2.url + "/_sim/counters", headers={"Authorization": ""}).json()
    assert body["counters"]["GET /users"]["requests"] >= 1
    assert body["users"] == 2500
    assert "throttling_floor_seconds" in body


@pytest.mark.parametrize("select", ["id,signInActivity", "signInActivity"])
def test_sign_in_activity_listings_count_against_the_reporting_budget(
        make_sim: MakeSim, graph: GraphClient, select: str) -> None:
    sim = make_sim(users=20, throttling=True)
    client = graph(sim)
    statuses = [client.get("/users", params={"$select": select}).status_code for _ in range(6)]
    assert statuses[-1] == 429


def test_identity_protection_allows_one_request_per_second(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=60, throttling=True)
    client = graph(sim)
    assert client.get("/identityProtection/riskyUsers").status_code == 200
    throttled = client.get("/identityProtection/riskyUsers")
    assert throttled.status_code == 429 and "Retry-After" not in throttled.headers
    time.sleep(1.05)
    assert client.get("/identityProtection/riskyUsers").status_code == 200


def test_delta_functions_cost_one_resource_unit_as_unlisted_paths(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=60)
    client = graph(sim)
    for path in ("/users/delta", "/groups/delta", "/directory/deletedItems/microsoft.graph.user"):
        assert client.get(path).headers["x-ms-resource-unit"] == "1", path


def test_sign_in_activity_allows_ten_requests_a_minute_beside_the_reports_window(
        make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, throttling=True)
    sim.throttle.time_scale = 0.05  # reports: 5 per 0.5 s; signInActivity: 10 per 3 s
    client = graph(sim)
    statuses = []
    for burst in (5, 5, 1):
        statuses += [client.get("/users", params={"$select": "id,signInActivity"}).status_code
                     for _ in range(burst)]
        time.sleep(0.55)  # the reports window empties; the signInActivity one does not
    assert statuses == [200] * 10 + [429]
    assert sim.counters.snapshot()["GET /users"]["sign_in_activity"] == 10


def test_per_user_authentication_methods_count_against_the_reports_window(
        make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, throttling=True)
    user = next(iter(sim.tenant.truth()))
    body = _batch(graph(sim), [{"id": str(i), "method": "GET", "url": f"/users/{user}/authentication/methods"}
                               for i in range(6)])
    statuses = [r["status"] for r in body["responses"]]  # type: ignore[attr-defined]
    assert statuses == [200] * 5 + [429]
    assert sim.counters.snapshot()["GET /users/{id}/authentication/methods"]["reporting"] == 5


def test_the_legacy_model_keeps_per_user_methods_out_of_the_reports_window(
        make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, throttling=True)
    sim.throttle.legacy = True
    user = next(iter(sim.tenant.truth()))
    client = graph(sim)
    assert all(client.get(f"/users/{user}/authentication/methods").status_code == 200 for _ in range(7))


def test_another_app_spending_half_the_tenant_budget_halves_identity_protection(
        make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=60, throttling=True)
    sim.throttle.time_scale = 0.2
    sim.throttle.other_app_share = 0.5  # 1 request per 0.4 s left for this app
    client = graph(sim)
    assert client.get("/identityProtection/riskyUsers").status_code == 200
    time.sleep(0.25)
    assert client.get("/identityProtection/riskyUsers").status_code == 429
    time.sleep(0.2)
    assert client.get("/identityProtection/riskyUsers").status_code == 200


def test_another_app_leaves_the_per_app_reports_window_whole(make_sim: MakeSim, graph: GraphClient) -> None:
    sim = make_sim(users=20, throttling=True)
    sim.throttle.other_app_share = 0.5
    client = graph(sim)
    assert [client.get(REPORT).status_code for _ in range(6)] == [200] * 5 + [429]
