"""The sign-in stream's pieces that need no Graph: its settings, its window and checkpoint
arithmetic, and the progress line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import pytest

from connector.config import ConfigError, load_settings
from connector.graph.sign_ins import SignInQuery
from connector.progress import progress_line
from connector.streams.log_window import Checkpoint, Window

BASE = {"tenant_id": "contoso.onmicrosoft.com", "client_id": "00000000-0000-0000-0000-000000000001",
        "client_secret": "s3cret-value"}
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def settings(**sign_ins: Any) -> Any:
    return load_settings({**BASE, "sign_ins": sign_ins} if sign_ins else BASE)


def test_sign_ins_are_off_by_default_with_a_week_of_look_back() -> None:
    options = settings().sign_ins
    assert (options.enabled, options.lookback_days, options.overlap_minutes,
            options.page_size, options.event_types) == (False, 7, 60, 1000, ())


@pytest.mark.parametrize(("key", "value"), [("lookback_days", 31), ("lookback_days", 0),
                                            ("page_size", 1001), ("overlap_minutes", 0),
                                            ("event_types", ["everything"]),
                                            ("enabled", "yes")])
def test_a_bad_sign_in_setting_is_named_in_the_error(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        settings(**{key: value})
    assert f"sign_ins.{key}" in str(caught.value)


def test_a_misspelt_sign_in_key_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError) as caught:
        settings(enabeld=True)
    assert "did you mean 'enabled'" in str(caught.value)


def test_the_v1_query_filters_on_whole_seconds_with_the_largest_page() -> None:
    class Client:
        base_url = "https://graph.example/v1.0"

    url = unquote(SignInQuery().url(Client(), T0 - timedelta(microseconds=5),  # type: ignore[arg-type]
                                    upto=T0))
    assert url.startswith("/auditLogs/signIns?$filter=createdDateTime ge 2026-11-30T11:59:59Z")
    assert "createdDateTime le 2026-11-30T12:00:00Z" in url and "$top=1000" in url


def test_event_types_switch_to_the_beta_api() -> None:
    class Client:
        base_url = "https://graph.example/v1.0"

    query = SignInQuery(event_types=("interactiveUser", "nonInteractiveUser"))
    url = unquote(query.url(Client(), T0, upto=T0, inclusive=False))  # type: ignore[arg-type]
    assert url.startswith("https://graph.example/beta/auditLogs/signIns?")
    assert "createdDateTime lt 2026-11-30T12:00:00Z" in url
    assert ("(signInEventTypes/any(t: t eq 'interactiveUser') or "
            "signInEventTypes/any(t: t eq 'nonInteractiveUser'))") in url


def window(**kwargs: Any) -> Window:
    return Window(T0 - timedelta(hours=2), T0, int((T0 - timedelta(hours=1)).timestamp()), None,
                  kwargs.pop("seen", {}), **kwargs)


def test_the_resume_point_follows_the_oldest_second_reached() -> None:
    w = window()
    second = int(T0.timestamp()) - 30
    w.handled("a", second + 10)
    w.handled("b", second)
    w.handled("c", second)
    assert (w.low, w.edge) == (second, {"b", "c"})
    assert w.resume_bound() == (datetime.fromtimestamp(second + 1, UTC), second)
    assert w.delivered("c", second) and not w.delivered("d", second)


def test_out_of_order_listing_freezes_the_resume_point_at_the_window_end() -> None:
    w = window()
    now = int(T0.timestamp())
    w.handled("a", now - 100)
    w.handled("b", now - 50)
    assert not w.ordered
    assert w.resume_bound() == (T0, None)
    assert w.in_progress()["low"] is None


def test_only_ids_inside_the_next_overlap_are_kept() -> None:
    now = int(T0.timestamp())
    w = window(seen={"old": now - 7200, "kept": now - 600})
    w.note_delivered("new", now - 60)
    w.note_delivered("outside", now - 4000)
    assert w.next_seen() == {"kept": now - 600, "new": now - 60}


def test_a_checkpoint_of_another_tenant_or_version_means_a_first_run() -> None:
    raw = {"version": 1, "tenant_id": "other", "cursor": "2026-11-30T10:00:00Z", "seen": [],
           "in_progress": None}
    assert Checkpoint.parse(raw, "contoso", what="sign-in").cursor is None
    assert Checkpoint.parse({**raw, "tenant_id": "contoso", "version": 9}, "contoso",
                            what="sign-in").cursor is None
    parsed = Checkpoint.parse({**raw, "tenant_id": "contoso", "seen": [["x", 1], "junk"]},
                              "contoso", what="sign-in")
    assert parsed.cursor == T0 - timedelta(hours=2) and dict(parsed.seen) == {"x": 1}


def test_the_progress_line_names_the_sign_ins_of_a_sign_in_run() -> None:
    line = progress_line({"sign_ins_listed": 4200, "events_delivered": 4000, "requests": 5}, 65)
    assert line.startswith("sign-ins 4,200 listed | events 4,000 delivered")
    assert progress_line({"users_listed": 3}, 0).startswith("users 3 listed")
