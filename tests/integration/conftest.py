"""Fixtures for integration tests: a loopback intake receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.intake_receiver import IntakeReceiver


@pytest.fixture
def receiver() -> Iterator[IntakeReceiver]:
    """A plain-http intake on 127.0.0.1 that accepts everything unless told otherwise."""
    with IntakeReceiver() as running:
        yield running
