"""`include_guests: false` and `domains` through the CLI: filtered in Graph's query and per record."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entrasim import ExpectedUser, SimulatedGraph, TenantSpec
from tests.cli.truth import Known, assert_matches_truth, connector, load_events, write_config


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatedGraph]:
    with SimulatedGraph(TenantSpec(seed=5, users=400, licence="P1")) as running:
        yield running


def _run(sim: SimulatedGraph, directory: Path, **config: Any) -> tuple[list[dict[str, Any]], str]:
    out = directory / "events.ndjson"
    result = connector("run", "--config", write_config(directory, sim, **config),
                       "--state", directory / "state.json", "--output", out)
    assert result.returncode == 0, result.stderr
    return load_events(out), result.stderr


def _listed(stderr: str) -> int:
    found = re.search(r"from (\d+) users listed", stderr)
    assert found, stderr
    return int(found.group(1))


def _domain(address: str | None) -> str | None:
    return address.rpartition("@")[2].lower() if address and "@" in address else None


def test_guests_are_excluded_in_the_query_when_include_guests_is_false(
        sim: SimulatedGraph, tmp_path: Path) -> None:
    truth = sim.tenant.truth()
    members = {uid for uid, t in truth.items() if not t.is_guest}
    assert len(members) < len(truth)
    events, stderr = _run(sim, tmp_path, include_guests=False)
    assert_matches_truth(events, truth, Known(mfa=None), expected_ids=members)
    assert _listed(stderr) == len(members)  # Graph filtered them, not only the connector


def test_domains_keep_users_whose_upn_or_mail_domain_is_listed(
        sim: SimulatedGraph, tmp_path: Path) -> None:
    truth = sim.tenant.truth()

    def wanted(t: ExpectedUser) -> bool:
        return "contoso.co.uk" in (_domain(t.upn), _domain(t.mail))

    expected = {uid for uid, t in truth.items() if wanted(t)}
    assert 0 < len(expected) < len(truth)
    events, stderr = _run(sim, tmp_path, domains=["contoso.co.uk"])
    assert_matches_truth(events, truth, Known(mfa=None), expected_ids=expected)
    assert _listed(stderr) == len(expected)
