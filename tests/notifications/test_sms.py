"""The SMS channel against a local stand-in of SMS.ru (tests/support/smsru_standin.py) through
the real httpx client, with the monthly cap counted in the real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from structlog.testing import capture_logs

from backend.state import Resources
from notifications.channels import (
    LogSmsChannel,
    Rendered,
    TemporaryDeliveryError,
    UnreachableError,
)
from notifications.sms import SmsRuChannel, sms_channel
from tests.conftest import make_settings
from tests.support.net import free_port
from tests.support.smsru_standin import TEST_API_ID, SmsRuStandIn

CODE = "482913"
TEXT = f"Код для восстановления пароля: {CODE}. Никому его не сообщайте."


def _message(to: str = "+7 (999) 123-45-67", kind: str = "auth.password_reset_code") -> Rendered:
    return Rendered(
        outbox_id=11, kind=kind, channel="sms", to=to, locale="ru", text=TEXT, customer_id=5
    )


@pytest.fixture
async def standin() -> AsyncIterator[SmsRuStandIn]:
    server = SmsRuStandIn()
    await server.start()
    yield server
    await server.stop()


def _settings(base: str, **overrides: object):
    values: dict[str, object] = {
        "sms_provider": "smsru",
        "sms_api_key": TEST_API_ID,
        "sms_api_base": base,
        "sms_sender": "ProvDesk",
    }
    values.update(overrides)
    return make_settings(**values)


@pytest.fixture
async def channel(resources: Resources, standin: SmsRuStandIn) -> AsyncIterator[SmsRuChannel]:
    sms = SmsRuChannel(_settings(standin.base_url), resources.redis)
    yield sms
    await sms.close()


async def _month_count(resources: Resources, channel: SmsRuChannel) -> int:
    return int(await resources.redis.get(channel.month_key()) or 0)


async def test_an_sms_reaches_the_gateway_with_smsru_fields(channel, standin, resources):
    with capture_logs() as logs:
        await channel.send(_message())
    [sms] = standin.sent
    assert (sms.to, sms.text, sms.sender) == ("79991234567", TEXT, "ProvDesk")
    [request] = standin.requests
    assert request["json"] == "1"
    assert request["api_id"] == TEST_API_ID
    assert await _month_count(resources, channel) == 1
    # the log names the kind and the recipient, never the text or the key
    assert CODE not in repr(logs)
    assert TEST_API_ID not in repr(logs)
    [sent] = [e for e in logs if e["event"] == "sms sent"]
    assert (sent["kind"], sent["to"]) == ("auth.password_reset_code", "+79991234567")
    assert sent["sms_id"] == sms.sms_id


async def test_a_number_the_gateway_refuses_is_unreachable_and_not_counted(
    channel, standin, resources
):
    standin.refuse_number("79990000000", 202)
    with capture_logs() as logs, pytest.raises(UnreachableError, match="202"):
        await channel.send(_message("+79990000000"))
    assert standin.sent == []
    assert await _month_count(resources, channel) == 0  # nothing went out: the budget is back
    assert CODE not in repr(logs)


async def test_no_route_is_unreachable(channel, standin):
    standin.refuse_number("79991234567", 207)
    with pytest.raises(UnreachableError, match="207"):
        await channel.send(_message())


async def test_a_malformed_number_never_reaches_the_gateway(channel, standin, resources):
    with pytest.raises(UnreachableError, match="invalid phone number"):
        await channel.send(_message("call me maybe"))
    assert standin.requests == []
    assert await _month_count(resources, channel) == 0


async def test_service_unavailable_220_is_temporary_with_a_wait(channel, standin, resources):
    standin.fail_next(220)
    with pytest.raises(TemporaryDeliveryError, match="220") as caught:
        await channel.send(_message())
    assert caught.value.retry_after == 60.0
    assert standin.sent == []
    assert await _month_count(resources, channel) == 0
    await channel.send(_message())  # the service is back
    assert len(standin.sent) == 1


async def test_insufficient_funds_201_is_temporary(channel, standin):
    standin.fail_next(201)
    with pytest.raises(TemporaryDeliveryError, match="201"):
        await channel.send(_message())
    assert standin.sent == []


async def test_a_wrong_api_key_is_temporary_and_logged_as_an_error(resources, standin):
    sms = SmsRuChannel(_settings(standin.base_url, sms_api_key="WRONG-KEY"), resources.redis)
    try:
        with capture_logs() as logs, pytest.raises(TemporaryDeliveryError, match="200"):
            await sms.send(_message())
    finally:
        await sms.close()
    assert standin.sent == []
    assert any(e["log_level"] == "error" and e["status_code"] == 200 for e in logs)
    assert "WRONG-KEY" not in repr(logs)


async def test_a_gateway_that_is_down_is_temporary_and_not_counted(resources):
    base = f"http://127.0.0.1:{free_port()}"
    sms = SmsRuChannel(_settings(base), resources.redis)
    try:
        with pytest.raises(TemporaryDeliveryError, match="unavailable"):
            await sms.send(_message())
        assert await _month_count(resources, sms) == 0
    finally:
        await sms.close()


async def test_a_kind_not_in_sms_kinds_is_refused_before_anything(channel, standin, resources):
    with pytest.raises(UnreachableError, match="not enabled for this kind"):
        await channel.send(_message(kind="billing.low_balance"))
    assert standin.requests == []
    assert await _month_count(resources, channel) == 0


async def test_the_monthly_cap_holds_under_a_burst_of_concurrent_sends(resources, standin):
    standin.delay = 0.05  # every send is in flight while the others count
    sms = SmsRuChannel(_settings(standin.base_url, sms_monthly_cap=5), resources.redis)
    try:
        outcomes = await asyncio.gather(
            *(sms.send(_message(f"+7999000{n:04d}")) for n in range(20)), return_exceptions=True
        )
    finally:
        await sms.close()
    sent = [o for o in outcomes if o is None]
    capped = [o for o in outcomes if isinstance(o, UnreachableError)]
    assert len(sent) == 5
    assert len(capped) == 15
    assert all(str(e) == "monthly SMS cap reached" for e in capped)
    assert len(standin.sent) == 5
    assert len(standin.requests) == 5
    # over the cap the attempts stay counted: the month is spent
    assert await _month_count(resources, sms) == 20


async def test_the_cap_is_per_calendar_month_in_the_billing_timezone(resources, standin):
    sms = SmsRuChannel(_settings(standin.base_url), resources.redis)
    try:
        # 22:30 UTC on 31 January is already February in Moscow
        assert sms.month_key(datetime(2026, 1, 31, 22, 30, tzinfo=UTC)) == "sms:month:2026-02"
        await sms.send(_message())
        ttl = await resources.redis.ttl(sms.month_key())
        assert 30 * 86400 < ttl <= 40 * 86400
    finally:
        await sms.close()


def _production(**overrides: object):
    return make_settings(
        app_env="production", secret_key="x" * 40, payment_provider="yookassa", **overrides
    )


async def test_the_factory_picks_the_gateway_the_dev_files_or_nothing(resources, tmp_path):
    gateway = sms_channel(_production(sms_provider="smsru", sms_api_key="k"), resources)
    assert isinstance(gateway, SmsRuChannel)
    await gateway.close()
    dev = make_settings(app_env="development", data_dir=tmp_path)
    fallback = sms_channel(dev, resources)
    assert isinstance(fallback, LogSmsChannel)
    assert fallback.mailbox == tmp_path / "dev-mail"
    assert sms_channel(_production(), resources) is None
    # a provider without its key is off, not open
    with capture_logs() as logs:
        assert sms_channel(_production(sms_provider="smsru"), resources) is None
    assert any(e["log_level"] == "error" for e in logs)
