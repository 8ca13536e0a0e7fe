"""The MFA notes the audit stream leaves for change tracking (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.streams import mfa_handoff

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_a_note_round_trips_its_users_and_coverage() -> None:
    cursors = dict([mfa_handoff.note("r1", "2026-12-07T07:00:00Z", ["u1", "u2"]),
                    mfa_handoff.note("r2", "2026-12-07T07:30:00Z", ["u2"])])
    cursors[mfa_handoff.COVERED] = "2026-12-07T07:55:00Z"
    cursors["users_delta"] = "https://graph/delta"

    found = mfa_handoff.notes_of(cursors)

    assert found.keys == ("audit_mfa.r1", "audit_mfa.r2")
    assert found.users == {"u1", "u2"}
    assert found.covered == datetime(2026, 12, 7, 7, 55, tzinfo=UTC)


def test_an_unreadable_note_is_taken_without_users() -> None:
    found = mfa_handoff.notes_of({"audit_mfa.bad": "{not json", "audit_mfa.odd": "[1]"})

    assert found.keys == ("audit_mfa.bad", "audit_mfa.odd") and found.users == frozenset()


def test_the_shared_read_is_used_only_when_enabled_and_further_than_our_own() -> None:
    covered = mfa_handoff.Handoff((), frozenset(), NOW)

    assert mfa_handoff.use_shared(True, covered, NOW - timedelta(minutes=5))
    assert mfa_handoff.use_shared(True, covered, None)
    assert not mfa_handoff.use_shared(True, covered, NOW)  # not run since our own read
    assert not mfa_handoff.use_shared(False, covered, None)
    assert not mfa_handoff.use_shared(True, mfa_handoff.Handoff((), frozenset(), None), None)


def test_notes_older_than_the_retention_are_stale() -> None:
    cursors = dict([mfa_handoff.note("old", "2026-11-01T00:00:00Z", ["u"]),
                    mfa_handoff.note("new", "2026-12-06T00:00:00Z", ["u"])])
    cursors["audit_mfa.broken"] = "nope"
    cursors[mfa_handoff.COVERED] = "2020-01-01T00:00:00Z"

    assert sorted(mfa_handoff.stale_keys(cursors, NOW)) == ["audit_mfa.broken", "audit_mfa.old"]


def test_this_runs_notes_and_coverage_join_the_stored_ones() -> None:
    stored = dict([mfa_handoff.note("r1", "2026-12-07T07:00:00Z", ["u1"])])
    stored[mfa_handoff.COVERED] = "2026-12-07T07:00:00Z"
    key, value = mfa_handoff.note("r2", "2026-12-07T07:50:00Z", ["u2"])
    shared = mfa_handoff.Shared({key: value}, NOW)

    found = mfa_handoff.notes_of(mfa_handoff.with_shared(stored, shared))

    assert found.users == {"u1", "u2"} and found.covered == NOW
    unfinished = mfa_handoff.with_shared(stored, mfa_handoff.Shared({}, None))
    assert unfinished[mfa_handoff.COVERED] == "2026-12-07T07:00:00Z"
    assert mfa_handoff.with_shared(stored, None) == stored
