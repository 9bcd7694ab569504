"""Linking a Telegram account: the deep link issued by the API, the shared contact plus the
contract number, and unlinking. The real aiogram Bot talks to the Bot API stand-in; updates go
through the inbox (store, then the Dispatcher) with the linking router before the general
handlers and the real engine, as bot/factory.py wires them."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.api import API_PREFIX
from backend.customers import linking as link_service
from backend.customers import linking_endpoints
from backend.i18n import t
from backend.models import AuditEntry, ChannelIdentity
from backend.models.enums import Channel
from backend.state import Resources
from bot import inbox, linking
from bot.factory import create_dispatcher
from dialogs import access
from dialogs.engine import Engine
from dialogs.nlu.service import NLUService
from tests.factories import access_token_for, auth_header, make_customer
from tests.support.telegram_standin import TelegramStandIn

USER = 7001
OTHER = 7002


@pytest.fixture
def dispatcher(resources: Resources) -> Dispatcher:
    # the production dispatcher (bot/factory.py), with the linking router before the general one
    return create_dispatcher(resources, Engine(resources, NLUService(rasa=None)))


@pytest.fixture
def api(app: Any) -> Any:
    return app


async def feed(
    resources: Resources, bot: Bot, dp: Dispatcher, telegram: TelegramStandIn, update: Any
) -> list[str]:
    """Process one update; the texts the bot sent to the chat because of it."""
    chat_id = int(update["message"]["chat"]["id"] if "message" in update else USER)
    before = len(telegram.sent_texts(chat_id))
    await inbox.process_update(resources, bot, dp, update)
    return telegram.sent_texts(chat_id)[before:]


async def linked_customer(session: AsyncSession, telegram_user_id: int) -> int | None:
    return await session.scalar(
        select(ChannelIdentity.customer_id).where(
            ChannelIdentity.channel == Channel.telegram,
            ChannelIdentity.external_id == str(telegram_user_id),
        )
    )


async def test_deep_link_issued_by_the_api_links_once(
    resources, session, api, client, settings, bot, telegram, dispatcher
):
    user, customer = await make_customer(session, contract_number="12345")
    await session.commit()
    assert user is not None
    headers = auth_header(access_token_for(settings, user, customer_id=customer.id))

    response = await client.post(f"{API_PREFIX}/me/telegram/link", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    token = body["token"]
    assert body["start_parameter"] == token and body["expires_in"] == 600
    assert len(token) >= 32 and "password" not in str(body)

    sent = await feed(resources, bot, dispatcher, telegram, telegram.command(USER, "start", token))
    assert sent[0] == t("telegram-linked", "ru", contract="12345")
    assert len(sent) >= 2, sent  # the main menu follows
    assert await linked_customer(session, USER) == customer.id
    audited = await session.scalar(select(AuditEntry).where(AuditEntry.action == "telegram.link"))
    assert audited is not None and token not in str(audited.details)

    # the same token again, from someone else: refused, nothing moves
    sent = await feed(resources, bot, dispatcher, telegram, telegram.command(OTHER, "start", token))
    assert sent == [t("telegram-link-invalid", "ru")]
    assert await linked_customer(session, OTHER) is None
    markup = telegram.last("sendMessage").params["reply_markup"]
    assert "request_contact" in str(markup)


async def test_link_endpoint_needs_a_customer(api, client):
    response = await client.post(f"{API_PREFIX}/me/telegram/link")
    assert response.status_code == 401


async def test_unknown_token_is_refused(resources, bot, telegram, dispatcher, session):
    sent = await feed(
        resources, bot, dispatcher, telegram, telegram.command(USER, "start", "not-a-token")
    )
    assert sent == [t("telegram-link-invalid", "ru")]
    assert await linked_customer(session, USER) is None


async def test_start_unlinked_offers_to_share_the_number(resources, bot, telegram, dispatcher):
    sent = await feed(resources, bot, dispatcher, telegram, telegram.command(USER, "start"))
    assert sent == [t("telegram-link-welcome", "ru")]
    markup = telegram.last("sendMessage").params["reply_markup"]
    assert "request_contact" in str(markup)
    assert t("telegram-link-share-button", "ru") in str(markup)


async def test_own_contact_and_right_contract_number_link(
    resources, session, bot, telegram, dispatcher
):
    _, customer = await make_customer(session, phone="+79001234567", contract_number="C-777")
    await session.commit()

    sent = await feed(
        resources, bot, dispatcher, telegram, telegram.contact(USER, "8 (900) 123-45-67")
    )
    assert sent == [t("telegram-link-ask-contract", "ru")]
    sent = await feed(resources, bot, dispatcher, telegram, telegram.message(USER, "C-777"))
    assert sent[0] == t("telegram-linked", "ru", contract="C-777")
    assert await linked_customer(session, USER) == customer.id
    # the pending phone is gone: further text goes to the engine, not to linking
    assert await resources.redis.get(linking.PENDING_KEY.format(USER)) is None


async def test_someone_elses_contact_is_refused(resources, session, bot, telegram, dispatcher):
    await make_customer(session, phone="+79001234567")
    await session.commit()

    sent = await feed(
        resources, bot, dispatcher, telegram, telegram.contact(USER, "+79001234567", user_id=OTHER)
    )
    assert sent == [t("telegram-link-foreign-contact", "ru")]
    assert await resources.redis.get(linking.PENDING_KEY.format(USER)) is None
    sent = await feed(
        resources, bot, dispatcher, telegram, telegram.contact(USER, "+79001234567", user_id=None)
    )
    assert sent == [t("telegram-link-foreign-contact", "ru")]
    assert await linked_customer(session, USER) is None


async def test_unknown_phone_is_refused(resources, session, bot, telegram, dispatcher):
    await make_customer(session, phone="+79001234567")
    await session.commit()
    sent = await feed(resources, bot, dispatcher, telegram, telegram.contact(USER, "+79009999999"))
    assert sent == [t("telegram-link-phone-unknown", "ru")]


async def test_wrong_contract_number_is_refused_and_limited(
    resources, session, bot, telegram, dispatcher
):
    await make_customer(session, phone="+79001234567", contract_number="C-777")
    # another customer's contract number does not go with this phone
    await make_customer(session, phone="+79005550000", contract_number="C-888")
    await session.commit()

    await feed(resources, bot, dispatcher, telegram, telegram.contact(USER, "+79001234567"))
    for _ in range(linking.CONTRACT_ATTEMPTS):
        sent = await feed(resources, bot, dispatcher, telegram, telegram.message(USER, "C-888"))
        assert sent == [t("telegram-link-wrong-contract", "ru")]
    # out of attempts: even the right number is refused now
    sent = await feed(resources, bot, dispatcher, telegram, telegram.message(USER, "C-777"))
    assert sent == [t("telegram-link-too-many", "ru")]
    assert await linked_customer(session, USER) is None


async def test_relinking_moves_the_account(resources, session):
    _, first = await make_customer(session)
    _, second = await make_customer(session)
    await link_service.link_telegram(session, first.id, USER, actor=None, conversations=access)
    await link_service.link_telegram(session, second.id, USER, actor=None, conversations=access)
    await session.commit()
    assert await linked_customer(session, USER) == second.id
    token = await link_service.issue_link_token(resources.redis, first.id)
    assert await link_service.consume_link_token(resources.redis, token) == first.id
    assert await link_service.consume_link_token(resources.redis, token) is None


async def test_unlink_with_confirmation(resources, session, bot, telegram, dispatcher):
    _, customer = await make_customer(session, contract_number="U-1")
    await link_service.link_telegram(session, customer.id, USER, actor=None, conversations=access)
    await session.commit()

    sent = await feed(resources, bot, dispatcher, telegram, telegram.command(USER, "unlink"))
    assert sent == [t("telegram-unlink-confirm", "ru", contract="U-1")]
    no = linking.UnlinkCallback(confirm=False).pack()
    await inbox.process_update(resources, bot, dispatcher, telegram.callback_query(USER, no))
    assert telegram.last("editMessageText").params["text"] == t("telegram-unlink-cancelled", "ru")
    assert await linked_customer(session, USER) == customer.id

    yes = linking.UnlinkCallback(confirm=True).pack()
    await inbox.process_update(resources, bot, dispatcher, telegram.callback_query(USER, yes))
    assert telegram.last("editMessageText").params["text"] == t("telegram-unlinked", "ru")
    assert len(telegram.calls("answerCallbackQuery")) == 2
    assert await linked_customer(session, USER) is None

    sent = await feed(resources, bot, dispatcher, telegram, telegram.command(USER, "unlink"))
    assert sent == [t("telegram-not-linked", "ru")]


async def test_unlink_endpoint(resources, session, api, client, settings):
    user, customer = await make_customer(session)
    await link_service.link_telegram(session, customer.id, USER, actor=None, conversations=access)
    await session.commit()
    assert user is not None
    headers = auth_header(access_token_for(settings, user, customer_id=customer.id))
    response = await client.delete(f"{API_PREFIX}/me/telegram", headers=headers)
    assert response.status_code == 204
    assert await linked_customer(session, USER) is None


async def test_start_when_linked_goes_to_the_engine(resources, session, bot, telegram, dispatcher):
    _, customer = await make_customer(session)
    await link_service.link_telegram(session, customer.id, USER, actor=None, conversations=access)
    await session.commit()
    sent = await feed(resources, bot, dispatcher, telegram, telegram.command(USER, "start"))
    assert sent and t("telegram-link-welcome", "ru") not in sent


async def test_link_endpoint_is_rate_limited(resources, session, api, client, settings):
    user, customer = await make_customer(session)
    await session.commit()
    assert user is not None
    headers = auth_header(access_token_for(settings, user, customer_id=customer.id))
    for _ in range(linking_endpoints.LINKS_PER_WINDOW):
        assert (await client.post(f"{API_PREFIX}/me/telegram/link", headers=headers)).is_success
    response = await client.post(f"{API_PREFIX}/me/telegram/link", headers=headers)
    assert response.status_code == 429
    assert response.json()["error"] == "rate_limited"
