"""HttpIntakeSink against a real loopback intake: bodies, auth, batching, retries, giving up."""

from __future__ import annotations

import email.utils
import logging
import re
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from connector.sinks import DeliveryError, HttpIntakeSink, Sink
from tests.intake_receiver import IntakeReceiver

CONNECTOR_UUID = "6f1c4b7e-2d8a-4c1e-9b3f-0a5d7e9c1b2a"
SECRET = "s3cr3t-intake-key-5003"
FAST: dict[str, Any] = {
    "gzip": False,
    "deadline_seconds": 5.0,
    "backoff_initial": 0.01,
    "backoff_max": 0.05,
    "timeout_seconds": 5.0,
}


def events(count: int, start: int = 0) -> list[bytes]:
    return [
        orjson.dumps(
            {"metadata": {"uid": f"uid-{i}"}, "user": {"uid": str(i), "name": f"User {i}"}}
        )
        for i in range(start, start + count)
    ]


def uids(received: list[dict[str, Any]]) -> list[str]:
    return [event["metadata"]["uid"] for event in received]


def sink_for(receiver: IntakeReceiver, **overrides: Any) -> HttpIntakeSink:
    return HttpIntakeSink(receiver.url, **{**FAST, **overrides})


def outcomes(receiver: IntakeReceiver) -> list[str]:
    return [attempt.outcome for attempt in receiver.attempts]


# -- bodies and headers -------------------------------------------------------------------------


def test_ndjson_batch_arrives_as_one_line_per_event(receiver: IntakeReceiver) -> None:
    with sink_for(receiver) as sink:
        sink.deliver(events(3))
    [batch] = receiver.batches
    assert batch.content_type == "application/x-ndjson"
    assert batch.body == b"\n".join(events(3)) + b"\n"


def test_ndjson_api_key_is_sent_as_given_in_the_authorization_header(
    receiver: IntakeReceiver,
) -> None:
    with sink_for(receiver, api_key="token-abc") as sink:
        sink.deliver(events(1))
    assert receiver.batches[0].headers["authorization"] == "token-abc"


def test_ndjson_api_key_goes_in_the_configured_header(receiver: IntakeReceiver) -> None:
    with sink_for(receiver, api_key="token-abc", header_name="X-Intake-Key") as sink:
        sink.deliver(events(1))
    headers = receiver.batches[0].headers
    assert headers["x-intake-key"] == "token-abc"
    assert "authorization" not in headers


def test_ndjson_without_api_key_sends_no_credentials(receiver: IntakeReceiver) -> None:
    with sink_for(receiver) as sink:
        sink.deliver(events(1))
    assert "authorization" not in receiver.batches[0].headers


def test_sekoia_batch_is_posted_as_versioned_items_to_the_connector_path_with_bearer(
    receiver: IntakeReceiver,
) -> None:
    with sink_for(
        receiver, format="sekoia", api_key=SecretStr(SECRET), connector_uuid=CONNECTOR_UUID
    ) as sink:
        sink.deliver(events(4))
    [batch] = receiver.batches
    assert batch.path == f"/api/v2/asset-management/asset-connector/{CONNECTOR_UUID}"
    assert batch.content_type == "application/json"
    assert batch.headers["authorization"] == f"Bearer {SECRET}"
    assert batch.version == 1
    assert list(batch.events) == [orjson.loads(event) for event in events(4)]


def test_sekoia_base_url_with_trailing_slash_gives_a_clean_path(receiver: IntakeReceiver) -> None:
    sink = HttpIntakeSink(
        receiver.url + "/",
        format="sekoia",
        api_key=SECRET,
        connector_uuid=CONNECTOR_UUID,
        **FAST,
    )
    with sink:
        sink.deliver(events(1))
    assert receiver.batches[0].path == f"/api/v2/asset-management/asset-connector/{CONNECTOR_UUID}"


def test_gzip_body_is_compressed_and_labelled(receiver: IntakeReceiver) -> None:
    with sink_for(receiver, gzip=True) as sink:
        sink.deliver(events(200))
    [batch] = receiver.batches
    assert batch.gzipped
    assert batch.headers["content-encoding"] == "gzip"
    assert uids(list(batch.events)) == [f"uid-{i}" for i in range(200)]
    assert sink.stats.bytes_sent == batch.wire_size
    assert sink.stats.bytes_sent < len(batch.body) / 3


def test_keep_alive_reuses_one_connection_across_batches(receiver: IntakeReceiver) -> None:
    with sink_for(receiver, batch_size=2) as sink:
        sink.deliver(events(6))
        sink.deliver(events(2, start=6))
    assert len(receiver.batches) == 4
    assert receiver.connections == 1


def test_https_intake_is_trusted_through_ca_bundle() -> None:
    with IntakeReceiver(tls=True) as tls_receiver:
        assert tls_receiver.ca_path is not None
        with sink_for(tls_receiver, ca_bundle=tls_receiver.ca_path) as sink:
            sink.deliver(events(2))
        assert uids(tls_receiver.events) == ["uid-0", "uid-1"]


def test_https_intake_with_untrusted_certificate_fails_at_once() -> None:
    with IntakeReceiver(tls=True) as tls_receiver, sink_for(tls_receiver) as sink:
        started = time.monotonic()
        with pytest.raises(DeliveryError, match=r"not trusted.*ca_bundle"):
            sink.deliver(events(1))
        assert time.monotonic() - started < 1.0


def test_empty_delivery_sends_nothing(receiver: IntakeReceiver) -> None:
    with sink_for(receiver) as sink:
        sink.deliver([])
    assert receiver.attempts == []


# -- batching -----------------------------------------------------------------------------------


def test_large_delivery_is_split_into_ordered_batches_of_batch_size(
    receiver: IntakeReceiver,
) -> None:
    with sink_for(receiver, batch_size=3) as sink:
        sink.deliver(events(7))
    assert [len(batch.events) for batch in receiver.batches] == [3, 3, 1]
    assert uids(receiver.events) == [f"uid-{i}" for i in range(7)]
    assert (sink.stats.batches, sink.stats.events) == (3, 7)


def test_failing_sub_batch_is_acknowledged_before_the_next_is_sent(
    receiver: IntakeReceiver,
) -> None:
    receiver.respond(503, times=2)
    with sink_for(receiver, batch_size=3) as sink:
        sink.deliver(events(6))
    assert outcomes(receiver) == ["HTTP 503", "HTTP 503", "accepted", "accepted"]
    assert uids(list(receiver.batches[0].events)) == ["uid-0", "uid-1", "uid-2"]


def test_failure_after_acknowledged_sub_batches_says_how_many_were_delivered(
    receiver: IntakeReceiver,
) -> None:
    with sink_for(receiver, batch_size=3) as sink:
        receiver.accept()
        receiver.respond(400)
        with pytest.raises(DeliveryError, match="3 of the 6 events in this call were delivered"):
            sink.deliver(events(6))


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_status_is_retried_until_accepted_exactly_once(
    receiver: IntakeReceiver, status: int
) -> None:
    receiver.respond(status, times=2)
    with sink_for(receiver) as sink:
        sink.deliver(events(5))
    assert uids(receiver.events) == [f"uid-{i}" for i in range(5)]
    assert sink.stats.retries == 2
    assert (sink.stats.batches, sink.stats.events) == (1, 5)


def test_retry_after_of_a_429_is_honoured(receiver: IntakeReceiver) -> None:
    receiver.respond(429, retry_after="1")
    with sink_for(receiver) as sink:
        sink.deliver(events(1))
    first, second = receiver.attempts
    assert second.at - first.at >= 0.95


@pytest.mark.parametrize(
    "retry_after",
    ["3600", email.utils.format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)],
    ids=["seconds", "http-date"],
)
def test_retry_after_beyond_the_deadline_gives_up_at_once(
    receiver: IntakeReceiver, retry_after: str
) -> None:
    receiver.respond(429, retry_after=retry_after)
    with sink_for(receiver, deadline_seconds=30) as sink:
        started = time.monotonic()
        with pytest.raises(
            DeliveryError, match=r"Retry-After 3\d+.* s is past the delivery deadline"
        ):
            sink.deliver(events(1))
        assert time.monotonic() - started < 1.0


def test_deadline_runs_from_the_first_failure_not_from_the_first_attempt(
    receiver: IntakeReceiver,
) -> None:
    receiver.delay(0.6)
    receiver.respond(503)
    with sink_for(receiver, deadline_seconds=0.3) as sink:
        sink.deliver(events(1))
    assert outcomes(receiver) == ["HTTP 503", "accepted"]


def test_dropped_connection_is_retried_without_loss_or_duplicates(
    receiver: IntakeReceiver,
) -> None:
    receiver.drop_connection(times=2)
    with sink_for(receiver) as sink:
        sink.deliver(events(10))
    assert outcomes(receiver) == ["dropped", "dropped", "accepted"]
    assert uids(receiver.events) == [f"uid-{i}" for i in range(10)]


def test_intake_that_is_down_for_a_while_is_waited_for(receiver: IntakeReceiver) -> None:
    with sink_for(receiver) as sink:
        sink.deliver(events(1))
        receiver.go_down(0.5)
        started = time.monotonic()
        sink.deliver(events(3, start=1))
        assert time.monotonic() - started >= 0.4
    assert uids(receiver.events) == ["uid-0", "uid-1", "uid-2", "uid-3"]


def test_slow_response_within_the_timeout_is_awaited(receiver: IntakeReceiver) -> None:
    receiver.delay(0.3)
    with sink_for(receiver, timeout_seconds=2.0) as sink:
        sink.deliver(events(2))
    assert outcomes(receiver) == ["accepted"]
    assert sink.stats.retries == 0


def test_response_slower_than_the_timeout_is_retried(receiver: IntakeReceiver) -> None:
    receiver.delay(1.0)
    with sink_for(receiver, timeout_seconds=0.3) as sink:
        sink.deliver(events(2))
    assert sink.stats.retries >= 1
    # The abandoned attempt may still land: at-least-once, never a half batch.
    assert all(uids(list(batch.events)) == ["uid-0", "uid-1"] for batch in receiver.batches)


# -- giving up ----------------------------------------------------------------------------------


def test_deadline_exceeded_raises_delivery_error_quickly(receiver: IntakeReceiver) -> None:
    receiver.respond(503, times=10_000)
    with sink_for(receiver, deadline_seconds=0.3) as sink:
        started = time.monotonic()
        with pytest.raises(DeliveryError) as info:
            sink.deliver(events(2))
        assert time.monotonic() - started < 1.5
    message = str(info.value)
    assert receiver.url in message
    assert "HTTP 503" in message
    assert re.search(r"after trying for 0\.[3-9] s", message), message


def test_unreachable_intake_gives_up_naming_the_connection_error() -> None:
    receiver = IntakeReceiver().start()
    url = receiver.url
    receiver.stop()
    with (
        HttpIntakeSink(url, **{**FAST, "deadline_seconds": 0.2}) as sink,
        pytest.raises(DeliveryError, match=rf"to {url}/? .*last error: ConnectError"),
    ):
        sink.deliver(events(1))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_permanent_client_error_fails_at_once_without_retry(
    receiver: IntakeReceiver, status: int
) -> None:
    receiver.respond(status)
    with (
        sink_for(receiver, deadline_seconds=30) as sink,
        pytest.raises(DeliveryError, match=rf"HTTP {status}.*not retrying"),
    ):
        sink.deliver(events(1))
    assert len(receiver.attempts) == 1
    assert sink.stats.retries == 0


def test_permanent_error_message_quotes_what_the_intake_said(receiver: IntakeReceiver) -> None:
    receiver.respond(400, body=b'{"message": "items[0].time is required"}')
    with (
        sink_for(receiver) as sink,
        pytest.raises(DeliveryError, match=r"items\[0\]\.time is required"),
    ):
        sink.deliver(events(1))


def test_wrong_credentials_are_a_permanent_failure() -> None:
    with IntakeReceiver(require_header=("Authorization", "Bearer right")) as guarded:
        sink = sink_for(guarded, format="sekoia", api_key="wrong", connector_uuid=CONNECTOR_UUID)
        with sink, pytest.raises(DeliveryError, match="HTTP 401"):
            sink.deliver(events(1))


def test_closed_sink_refuses_to_deliver(receiver: IntakeReceiver) -> None:
    sink = sink_for(receiver)
    sink.close()
    with pytest.raises(DeliveryError, match="closed"):
        sink.deliver(events(1))


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://intake.sekoia.io/",
        "http://10.0.0.8:8080/intake",
        "http://127.0.0.1.nip.io/",
        "http://[::ffff:127.0.0.1]/",
        "ftp://127.0.0.1/",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="https"):
        HttpIntakeSink(url)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/", "http://127.8.9.10/", "http://[::1]:8080/", "http://LocalHost/"],
)
def test_plain_http_to_a_loopback_host_is_allowed(url: str) -> None:
    HttpIntakeSink(url).close()


def test_url_with_embedded_credentials_is_refused_without_echoing_them() -> None:
    with pytest.raises(ValueError, match="must not embed credentials") as info:
        HttpIntakeSink(f"https://user:{SECRET}@intake.example/")
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("missing", "kwargs"),
    [
        ("connector_uuid", {"api_key": SECRET}),
        ("api_key", {"connector_uuid": CONNECTOR_UUID}),
    ],
)
def test_sekoia_format_requires_connector_uuid_and_api_key(
    missing: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=missing):
        HttpIntakeSink("https://intake.example/", format="sekoia", **kwargs)


def test_connector_uuid_must_be_a_uuid() -> None:
    with pytest.raises(ValueError, match="not a UUID"):
        HttpIntakeSink(
            "https://intake.example/", format="sekoia", api_key=SECRET, connector_uuid="../../x"
        )


@dataclass
class IntakeSettings:
    url: str
    format: str
    api_key: SecretStr | None
    connector_uuid: str | None
    batch_size: int
    gzip: bool
    delivery_deadline_seconds: float


def test_sink_is_built_from_intake_settings(receiver: IntakeReceiver) -> None:
    settings = IntakeSettings(
        url=receiver.url + "/",
        format="sekoia",
        api_key=SecretStr(SECRET),
        connector_uuid=CONNECTOR_UUID,
        batch_size=2,
        gzip=True,
        delivery_deadline_seconds=5,
    )
    with HttpIntakeSink.from_settings(settings) as sink:
        assert isinstance(sink, Sink)
        sink.deliver(events(3))
    assert [len(batch.events) for batch in receiver.batches] == [2, 1]
    assert all(batch.gzipped and batch.version == 1 for batch in receiver.batches)
    assert receiver.batches[0].headers["authorization"] == f"Bearer {SECRET}"
    assert sink.deadline_seconds == 5


def test_sink_is_built_from_the_configuration_model(receiver: IntakeReceiver) -> None:
    from connector.config import Intake

    intake = Intake.model_validate(
        {
            "url": receiver.url,
            "format": "sekoia",
            "api_key": SECRET,
            "connector_uuid": CONNECTOR_UUID,
        }
    )
    with HttpIntakeSink.from_settings(intake) as sink:
        sink.deliver(events(1))
    [batch] = receiver.batches
    assert batch.path == f"/api/v2/asset-management/asset-connector/{CONNECTOR_UUID}"
    assert batch.gzipped


# -- secrets ------------------------------------------------------------------------------------


def test_api_key_is_not_in_repr(receiver: IntakeReceiver) -> None:
    with sink_for(receiver, api_key=SecretStr(SECRET)) as sink:
        assert SECRET not in repr(sink)
        assert "**********" in repr(sink)


@pytest.mark.parametrize("fail", ["echoing 400", "deadline"], ids=["permanent", "deadline"])
def test_api_key_is_never_in_errors_or_logs(
    receiver: IntakeReceiver, caplog: pytest.LogCaptureFixture, fail: str
) -> None:
    caplog.set_level(logging.DEBUG)
    if fail == "deadline":
        receiver.respond(500, times=10_000)
    else:
        receiver.respond(400, body=f"bad key {SECRET}".encode())
    sink = sink_for(
        receiver,
        format="sekoia",
        api_key=SECRET,
        connector_uuid=CONNECTOR_UUID,
        deadline_seconds=0.2,
    )
    with sink, pytest.raises(DeliveryError) as info:
        sink.deliver(events(1))
    rendered = "".join(traceback.format_exception(info.value))
    assert SECRET not in rendered
    assert SECRET not in caplog.text
    assert caplog.records, "the retries and the failure left no log to check"
