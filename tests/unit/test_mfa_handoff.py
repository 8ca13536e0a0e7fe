"""The MFA notes the audit stream leaves for change tracking (pure functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.streams import mfa_handoff

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_notes_name_their_users_and_the_coverage_travels_with_them() -> None:
    notes = dict([mfa_handoff.note("r1", "2026-12-07T07:00:00Z", ["u1", "u2"]),
                  mfa_handoff.note("r2", "2026-12-07T07:30:00Z", ["u2"])])

    found = mfa_handoff.notes_of(notes, NOW)

    assert found.ids == ("r1", "r2")
    assert found.users == {"u1", "u2"}
    assert found.covered == NOW


def test_an_unreadable_note_is_taken_without_users() -> None:
    found = mfa_handoff.notes_of({"bad": {"users": "u1"}, "odd": {"users": [1, ""]}}, None)

    assert found.ids == ("bad", "odd") and found.users == frozenset()


def test_the_shared_read_is_used_only_when_enabled_and_further_than_our_own() -> None:
    covered = mfa_handoff.Handoff((), frozenset(), NOW)

    assert mfa_handoff.use_shared(True, covered, NOW - timedelta(minutes=5))
    assert mfa_handoff.use_shared(True, covered, None)
    assert not mfa_handoff.use_shared(True, covered, NOW)  # not run since our own read
    assert not mfa_handoff.use_shared(False, covered, None)
    assert not mfa_handoff.use_shared(True, mfa_handoff.Handoff((), frozenset(), None), None)


def test_notes_older_than_the_retention_are_stale() -> None:
    notes = dict([mfa_handoff.note("old", "2026-11-01T00:00:00Z", ["u"]),
                  mfa_handoff.note("new", "2026-12-06T00:00:00Z", ["u"])])
    notes["broken"] = {"at": "not a time"}

    assert mfa_handoff.stale_ids(notes, NOW) == ["broken", "old"]


def test_this_runs_notes_and_coverage_join_the_stored_ones() -> None:
    stored = dict([mfa_handoff.note("r1", "2026-12-07T07:00:00Z", ["u1"])])
    earlier = NOW - timedelta(hours=1)
    shared = mfa_handoff.Shared(dict([mfa_handoff.note("r2", "2026-12-07T07:50:00Z", ["u2"])]),
                                NOW)

    notes, covered = mfa_handoff.with_shared(stored, earlier, shared)

    assert mfa_handoff.notes_of(notes, covered).users == {"u1", "u2"} and covered == NOW
    assert mfa_handoff.with_shared(stored, earlier, mfa_handoff.Shared({}, None))[1] == earlier
    assert mfa_handoff.with_shared(stored, earlier, None) == (stored, earlier)
