"""The FCM push channel: the real firebase-admin (OAuth with a throwaway service-account key,
the HTTP v1 send) against the local stand-in of FCM and Google's token endpoint, with the device
rows in PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from firebase_admin import exceptions as firebase_errors  # type: ignore[import-untyped]
from firebase_admin import messaging  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.models import Channel, ChannelIdentity
from backend.state import Resources
from notifications.channels import (
    PermanentDeliveryError,
    Rendered,
    TemporaryDeliveryError,
    UnreachableError,
)
from notifications.push import (
    FcmChannel,
    PushConfigError,
    deep_link,
    device_tokens,
    push_channel,
    retry_after,
)
from tests.conftest import make_settings
from tests.factories import make_customer
from tests.support.fcm_standin import FcmStandin

PUBLIC_URL = "https://my.example-isp.ru"


def token(n: int) -> str:
    # The shape of a registration token: "<installation id>:APA91b<...>".
    return f"dAbCdEfGhIjKlMnOpQrStU:APA91b{n:010d}" + "x" * 120


@pytest.fixture(scope="module")
def standin() -> Iterator[FcmStandin]:
    with FcmStandin(project="demo-isp") as server:
        yield server


@pytest.fixture
def fcm(standin: FcmStandin) -> FcmStandin:
    """The module's stand-in with nothing recorded and no faults pending."""
    standin.reset()
    return standin


@pytest.fixture
async def channel(
    fcm: FcmStandin, resources: Resources, tmp_path: Path
) -> AsyncIterator[FcmChannel]:
    settings = make_settings(
        fcm_credentials=fcm.write_key(tmp_path / "fcm.json"),
        fcm_api_base=fcm.base_url,
        public_url=PUBLIC_URL,
    )
    made = push_channel(settings, resources)
    assert made is not None
    yield made
    await made.aclose()


def rendered(
    to: str,
    *,
    kind: str = "payment.credited",
    outbox_id: int = 1,
    text: str = "Платёж 500 ₽ зачислен.",
    locale: str = "ru",
    payload: dict[str, Any] | None = None,
    customer_id: int | None = None,
) -> Rendered:
    return Rendered(
        outbox_id=outbox_id,
        kind=kind,
        channel="fcm",
        to=to,
        locale=locale,
        text=text,
        payload=payload or {},
        customer_id=customer_id,
    )


async def add_device(session: AsyncSession, customer_id: int, device: str) -> None:
    session.add(ChannelIdentity(customer_id=customer_id, channel=Channel.fcm, external_id=device))
    await session.commit()


async def stored_devices(session: AsyncSession) -> set[str]:
    session.expire_all()
    await session.rollback()
    found = await session.scalars(
        select(ChannelIdentity.external_id).where(ChannelIdentity.channel == Channel.fcm)
    )
    return set(found.all())


# --- the private attribute the channel relies on ---------------------------------------------


def test_firebase_admin_still_has_the_fcm_url_class_attribute() -> None:
    # notifications/push.py points the messaging service at FCM_API_BASE through it.
    assert messaging._MessagingService.FCM_URL == (
        "https://fcm.googleapis.com/v1/projects/{0}/messages:send"
    )


async def test_two_channels_send_to_their_own_servers_and_the_default_is_restored(
    resources: Resources, tmp_path: Path, fcm: FcmStandin
) -> None:
    with FcmStandin(project="other-isp") as other:
        first = FcmChannel.from_key_file(
            fcm.write_key(tmp_path / "a.json"), api_base=fcm.base_url + "/",
            public_url=PUBLIC_URL, sessionmaker=resources.sessionmaker,
        )  # fmt: skip
        second = FcmChannel.from_key_file(
            other.write_key(tmp_path / "b.json"), api_base=other.base_url,
            public_url=PUBLIC_URL, sessionmaker=resources.sessionmaker,
        )  # fmt: skip
        try:
            assert messaging._MessagingService.FCM_URL.startswith("https://fcm.googleapis.com/")
            await first.send(rendered(token(1)))
            await second.send(rendered(token(2)))
        finally:
            await first.aclose()
            await second.aclose()
        assert fcm.targets() == [token(1)]
        assert other.targets() == [token(2)]
        assert [s.project for s in other.sent] == ["other-isp"]


# --- a send ------------------------------------------------------------------------------


async def test_a_push_arrives_with_a_title_the_text_and_a_deep_link(
    channel: FcmChannel, fcm: FcmStandin
) -> None:
    await channel.send(
        rendered(
            token(7),
            kind="ticket.updated",
            outbox_id=42,
            text="Ticket #17 has been updated. Status: resolved.",
            locale="en",
            payload={"ticket_id": 17, "status": "resolved"},
        )
    )
    (sent,) = fcm.sent
    assert sent.target == ("token", token(7))
    assert sent.validate_only is False
    assert sent.message["notification"] == {
        "title": "Support",
        "body": "Ticket #17 has been updated. Status: resolved.",
    }
    assert sent.message["data"] == {
        "kind": "ticket.updated",
        "outbox_id": "42",
        "link": f"{PUBLIC_URL}/app/tickets/17",
    }
    # Not urgent: normal priority, no APNs alert of its own.
    assert sent.message["android"] == {"priority": "normal"}
    assert "apns" not in sent.message


async def test_an_urgent_notice_goes_high_priority_with_an_apns_alert(
    channel: FcmChannel, fcm: FcmStandin
) -> None:
    await channel.send(rendered(token(1), kind="outage.started", text="Авария на сети."))
    message = fcm.sent[0].message
    assert message["notification"] == {"title": "Состояние сети", "body": "Авария на сети."}
    assert message["data"]["link"] == f"{PUBLIC_URL}/app/outages"
    assert message["android"] == {"priority": "high"}
    assert message["apns"]["headers"]["apns-priority"] == "10"
    assert message["apns"]["payload"]["aps"]["alert"] == {
        "title": "Состояние сети",
        "body": "Авария на сети.",
    }


@pytest.mark.parametrize(
    ("kind", "payload", "title", "priority"),
    [
        ("security.new_sign_in", {}, "Account security", "high"),
        ("subscription.blocked", {}, "Balance and payments", "high"),
        ("maintenance.planned", {}, "Network status", "normal"),
        # the producer marks one event urgent (maintenance that starts in the quiet hours)
        ("maintenance.planned", {"urgent": True}, "Network status", "high"),
        ("auth.password_reset_code", {}, "Your account", "normal"),
    ],
)
async def test_title_and_priority_follow_the_events_catalogue(
    channel: FcmChannel,
    fcm: FcmStandin,
    kind: str,
    payload: dict[str, Any],
    title: str,
    priority: str,
) -> None:
    await channel.send(rendered(token(1), kind=kind, locale="en", payload=payload))
    message = fcm.sent[0].message
    assert message["notification"]["title"] == title
    assert message["android"] == {"priority": priority}
    assert ("apns" in message) is (priority == "high")


async def test_an_installation_id_is_sent_as_fid(channel: FcmChannel, fcm: FcmStandin) -> None:
    fid = "eAbCdEfGhIjKlMnOpQrStU"
    await channel.send(rendered(fid))
    assert fcm.sent[0].target == ("fid", fid)


async def test_the_oauth_token_is_fetched_once_and_reused(
    channel: FcmChannel, fcm: FcmStandin
) -> None:
    before = fcm.token_requests
    await channel.send_many([rendered(token(n)) for n in range(3)])
    await channel.send(rendered(token(4)))
    assert fcm.token_requests - before == 1
    assert fcm.sent_count == 4


@pytest.mark.parametrize(
    ("kind", "payload", "path"),
    [
        ("payment.credited", {}, "balance"),
        ("billing.low_balance", {}, "balance"),
        ("subscription.blocked", {}, "balance"),
        ("subscription.restored", {}, "balance"),
        ("invoice.issued", {"number": "A-1"}, "invoices"),
        ("ticket.updated", {"ticket_id": 5}, "tickets/5"),
        ("ticket.updated", {"ticket_id": "17"}, "tickets/17"),
        ("ticket.updated", {"ticket_id": "../admin"}, "tickets"),
        ("ticket.updated", {"ticket_id": "²"}, "tickets"),
        ("ticket.updated", {"ticket_id": True}, "tickets"),
        ("ticket.updated", {}, "tickets"),
        ("outage.resolved", {}, "outages"),
        ("tariff.changed", {}, "home"),
    ],
)
def test_deep_links_by_kind(kind: str, payload: dict[str, Any], path: str) -> None:
    assert deep_link(PUBLIC_URL + "/", kind, payload) == f"{PUBLIC_URL}/app/{path}"


# --- FCM's refusals ------------------------------------------------------------------------


async def test_an_unregistered_token_is_unreachable_and_its_device_is_deleted(
    channel: FcmChannel, fcm: FcmStandin, session: AsyncSession
) -> None:
    _, customer = await make_customer(session, with_user=False)
    await session.commit()
    for n in (1, 2, 3):
        await add_device(session, customer.id, token(n))
    fcm.unregistered.add(token(2))

    outcomes = await channel.send_many(
        [rendered(token(n), outbox_id=n, customer_id=customer.id) for n in (1, 2, 3)]
    )

    assert outcomes[0] is None
    assert isinstance(outcomes[1], UnreachableError)
    assert "unregistered" in str(outcomes[1])
    assert outcomes[2] is None
    assert sorted(fcm.targets()) == [token(1), token(3)]
    assert await stored_devices(session) == {token(1), token(3)}


async def test_sender_mismatch_and_an_invalid_token_delete_the_device_too(
    channel: FcmChannel, fcm: FcmStandin, session: AsyncSession
) -> None:
    _, customer = await make_customer(session, with_user=False)
    await session.commit()
    for n in (1, 2, 3):
        await add_device(session, customer.id, token(n))
    fcm.sender_mismatch.add(token(1))
    fcm.invalid.add(token(2))

    outcomes = await channel.send_many([rendered(token(n)) for n in (1, 2, 3)])

    assert [type(o) for o in outcomes] == [UnreachableError, UnreachableError, type(None)]
    assert await stored_devices(session) == {token(3)}


async def test_an_invalid_message_not_about_the_token_is_permanent_and_keeps_the_device(
    channel: FcmChannel, fcm: FcmStandin, session: AsyncSession
) -> None:
    _, customer = await make_customer(session, with_user=False)
    await session.commit()
    await add_device(session, customer.id, token(1))
    fcm.fail_next(1, 400, "INVALID_ARGUMENT")

    with pytest.raises(PermanentDeliveryError) as caught:
        await channel.send(rendered(token(1), text="secret text 482913"))

    assert not isinstance(caught.value, UnreachableError)
    assert "482913" not in str(caught.value)
    assert await stored_devices(session) == {token(1)}


async def test_quota_exceeded_is_temporary_with_fcms_retry_after(
    channel: FcmChannel, fcm: FcmStandin, session: AsyncSession
) -> None:
    _, customer = await make_customer(session, with_user=False)
    await session.commit()
    await add_device(session, customer.id, token(1))
    fcm.quota_exceeded_next(1, retry_after=30)

    with pytest.raises(TemporaryDeliveryError) as caught:
        await channel.send(rendered(token(1)))

    assert caught.value.retry_after == 30
    assert "QuotaExceeded" in str(caught.value)
    assert fcm.sent == []
    assert await stored_devices(session) == {token(1)}
    # The next attempt goes through.
    await channel.send(rendered(token(1)))
    assert fcm.targets() == [token(1)]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: now
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_takes_seconds_or_a_date(header: str | None, expected: float | None) -> None:
    headers = {"Retry-After": header} if header else {}
    response = httpx.Response(503, headers=headers)
    error = firebase_errors.UnavailableError("unavailable", http_response=response)
    assert retry_after(error) == expected


async def test_unavailable_is_temporary_at_once_without_firebases_own_retries(
    channel: FcmChannel, fcm: FcmStandin
) -> None:
    fcm.unavailable_next(2)
    before = fcm.requests
    loop = asyncio.get_running_loop()
    started = loop.time()

    outcomes = await channel.send_many([rendered(token(1)), rendered(token(2))])

    assert [type(o) for o in outcomes] == [TemporaryDeliveryError, TemporaryDeliveryError]
    assert all(isinstance(o, TemporaryDeliveryError) and o.retry_after is None for o in outcomes)
    # One request per message (firebase-admin alone would retry each up to 4 times, sleeping).
    assert fcm.requests - before == 2
    assert loop.time() - started < 5


async def test_a_third_party_auth_error_is_temporary(channel: FcmChannel, fcm: FcmStandin) -> None:
    # A 401 makes firebase-admin refresh the OAuth token and try again, twice: all three fail.
    fcm.fail_next(3, 401, "THIRD_PARTY_AUTH_ERROR")

    with pytest.raises(TemporaryDeliveryError) as caught:
        await channel.send(rendered(token(1)))

    assert "APNs" in str(caught.value)


async def test_a_malformed_address_is_unreachable_without_a_request(
    channel: FcmChannel, fcm: FcmStandin
) -> None:
    before = fcm.requests
    outcomes = await channel.send_many([rendered("bad token/../x"), rendered(token(1))])
    assert isinstance(outcomes[0], UnreachableError)
    assert outcomes[1] is None
    assert fcm.requests - before == 1


async def test_a_refused_key_fails_the_batch_temporarily(
    resources: Resources, fcm: FcmStandin
) -> None:
    # The key's id is known to the stand-in but the private half is another: the token
    # endpoint refuses the signature, as Google does for a revoked key.
    forged = fcm.service_account()
    forged["private_key"] = fcm.service_account()["private_key"]
    made = FcmChannel(
        forged, api_base=fcm.base_url, public_url=PUBLIC_URL, sessionmaker=resources.sessionmaker
    )
    try:
        outcomes = await made.send_many([rendered(token(1)), rendered(token(2))])
    finally:
        await made.aclose()
    assert [type(o) for o in outcomes] == [TemporaryDeliveryError, TemporaryDeliveryError]
    assert fcm.sent == []


# --- batches -----------------------------------------------------------------------------


async def test_1200_messages_go_in_three_calls_of_at_most_500(
    channel: FcmChannel, fcm: FcmStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes: list[int] = []
    real = messaging.send_each_async

    async def counting(messages: list[messaging.Message], *args: Any, **kwargs: Any) -> Any:
        sizes.append(len(messages))
        return await real(messages, *args, **kwargs)

    monkeypatch.setattr(messaging, "send_each_async", counting)
    batch = [rendered(token(n), outbox_id=n) for n in range(1200)]

    outcomes = await channel.send_many(batch)

    assert sizes == [500, 500, 200]
    assert outcomes == [None] * 1200
    assert fcm.sent_count == 1200
    assert sorted(fcm.targets()) == sorted(token(n) for n in range(1200))


# --- configuration -----------------------------------------------------------------------


def test_unset_credentials_mean_no_push_channel(resources: Resources) -> None:
    assert push_channel(make_settings(fcm_credentials=None), resources) is None
    assert push_channel(make_settings(fcm_credentials=""), resources) is None


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot read"),
        ("{not json", "not JSON"),
        (json.dumps({"type": "authorized_user"}), "not a service-account key"),
        (json.dumps({"type": "service_account", "project_id": "p"}), "lacks private_key"),
    ],
)
def test_a_missing_or_invalid_key_file_is_a_clear_error(
    resources: Resources, tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "fcm.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(PushConfigError, match=problem):
        push_channel(make_settings(fcm_credentials=path), resources)


async def test_a_key_with_a_broken_private_key_is_a_clear_error(
    resources: Resources, fcm: FcmStandin, tmp_path: Path
) -> None:
    key = fcm.service_account()
    key["private_key"] = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"
    path = tmp_path / "fcm.json"
    path.write_text(json.dumps(key), encoding="utf-8")
    with pytest.raises(PushConfigError, match="unusable key"):
        push_channel(make_settings(fcm_credentials=path), resources)


# --- the device API ----------------------------------------------------------------------


async def test_the_token_registered_through_the_device_api_is_the_one_pushed_to(
    channel: FcmChannel, fcm: FcmStandin, client: Any, as_customer: Any, session: AsyncSession
) -> None:
    customer, headers = await as_customer()
    device = token(99)
    answer = await client.post(
        "/api/v1/me/devices", json={"token": device, "platform": "android"}, headers=headers
    )
    assert answer.status_code == 201

    assert await device_tokens(session, customer.id) == [device]
    await channel.send(rendered(device, customer_id=customer.id))
    assert fcm.targets() == [device]

    # FCM forgets the app (uninstalled): the next push removes the device from the account.
    fcm.unregistered.add(device)
    with pytest.raises(UnreachableError):
        await channel.send(rendered(device, customer_id=customer.id))
    listed = await client.get("/api/v1/me/devices", headers=headers)
    assert listed.json() == []
    assert await device_tokens(session, customer.id) == []


async def test_device_tokens_lists_reachable_devices_of_the_customer_only(
    session: AsyncSession,
) -> None:
    _, one = await make_customer(session, with_user=False)
    _, other = await make_customer(session, with_user=False)
    await session.commit()
    await add_device(session, one.id, token(1))
    await add_device(session, other.id, token(2))
    session.add(
        ChannelIdentity(
            customer_id=one.id,
            channel=Channel.fcm,
            external_id=token(3),
            is_reachable=False,
            unreachable_reason="test",
        )
    )
    session.add(ChannelIdentity(customer_id=one.id, channel=Channel.telegram, external_id="77"))
    await session.commit()
    assert await device_tokens(session, one.id) == [token(1)]
