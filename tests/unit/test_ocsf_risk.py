"""Identity Protection's user risk in the OCSF event: `user.risk_level_id` and the account data.

Unknown (riskyUsers not read) is never reported as "no risk", and a level Identity Protection
withholds (`hidden`) or that this connector does not know is left out rather than guessed.
"""

from __future__ import annotations

from typing import Any

import pytest

from connector.graph.sources import NO_RISK, RiskTable
from connector.ocsf.user_inventory import Product, Risk, UserFacts, to_event
from connector.validation import EventValidator

UID = "3f1c2d4e-1111-4222-8333-444455556666"
PRODUCT = Product(name="Entra ID user inventory", vendor_name="Microsoft", version="1.2.3")
VALIDATOR = EventValidator()


def event(risk: Risk | None) -> dict[str, Any]:
    return to_event({"id": UID, "userPrincipalName": "jane@contoso.com"}, UserFacts(risk=risk),
                    collected_at_ms=1_767_225_600_000, tenant_id="t", product=PRODUCT)


def account_data(evt: dict[str, Any]) -> dict[str, Any]:
    for enrichment in evt.get("enrichments", ()):
        if enrichment["name"] == "account":
            data: dict[str, Any] = enrichment["data"]
            return data
    return {}


@pytest.mark.parametrize(("level", "level_id", "caption"), [
    ("none", 0, "Info"),
    ("low", 1, "Low"),
    ("medium", 2, "Medium"),
    ("high", 3, "High"),
])
def test_each_graph_risk_level_maps_to_its_ocsf_level(level: str, level_id: int,
                                                      caption: str) -> None:
    evt = event(Risk(level, "atRisk" if level != "none" else "remediated"))
    assert (evt["user"]["risk_level_id"], evt["user"]["risk_level"]) == (level_id, caption)
    assert account_data(evt)["risk_level"] == level
    assert VALIDATOR.errors(evt) == []


@pytest.mark.parametrize("level", ["hidden", "unknownFutureValue", "critical", "", None])
def test_a_withheld_or_unknown_risk_level_is_omitted(level: str | None) -> None:
    evt = event(Risk(level, "atRisk"))
    assert "risk_level_id" not in evt["user"] and "risk_level" not in evt["user"]
    assert "risk_level" not in account_data(evt)
    assert account_data(evt)["risk_state"] == "atRisk"


def test_risk_not_collected_is_absent_not_no_risk() -> None:
    evt = event(None)
    assert "risk_level_id" not in evt["user"]
    assert not {"risk_level", "risk_state", "risk_updated_time"} & set(account_data(evt))


def test_a_user_identity_protection_does_not_list_is_info_without_a_state() -> None:
    evt = event(Risk(NO_RISK.level, NO_RISK.state))
    assert (evt["user"]["risk_level_id"], evt["user"]["risk_level"]) == (0, "Info")
    assert account_data(evt)["risk_level"] == "none"
    assert "risk_state" not in account_data(evt)


def test_dismissed_risk_keeps_its_state_beside_level_none() -> None:
    data = account_data(event(Risk("none", "dismissed")))
    assert (data["risk_level"], data["risk_state"]) == ("none", "dismissed")


def test_an_unknown_risk_state_is_omitted() -> None:
    assert "risk_state" not in account_data(event(Risk("low", "unknownFutureValue")))


def test_risk_last_updated_is_epoch_ms_and_omitted_when_unparsable() -> None:
    updated = account_data(event(Risk("low", "atRisk", "2026-01-01T00:00:00.0000000Z")))
    assert updated["risk_updated_time"] == 1_767_225_600_000
    assert "risk_updated_time" not in account_data(event(Risk("low", "atRisk", "yesterday")))


# --- the lookup the inventory joins against --------------------------------------------------------

def test_risk_table_answers_no_risk_for_users_it_does_not_list() -> None:
    table = RiskTable()
    table.add({"id": "a", "riskLevel": "high", "riskState": "atRisk",
               "riskLastUpdatedDateTime": "2026-01-01T00:00:00Z"})
    assert (table.get("a").level, table.get("a").state) == ("high", "atRisk")
    assert table.get("b") is NO_RISK


def test_risk_table_ignores_deleted_users_and_records_without_an_id() -> None:
    table = RiskTable()
    table.add({"id": "gone", "riskLevel": "high", "isDeleted": True})
    table.add({"riskLevel": "high"})
    assert len(table) == 0


def test_risk_table_keeps_wrongly_typed_values_as_unknown() -> None:
    table = RiskTable()
    table.add({"id": "a", "riskLevel": 3, "riskState": ["atRisk"]})
    assert (table.get("a").level, table.get("a").state) == (None, None)
