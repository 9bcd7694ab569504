"""Unlinking, relinking and deactivation cut the chat's access to the customer's account at once
(docs/security.md, "Conversations and linked accounts"): the next turn is anonymous, in this
process and in any other. End to end: the real poller and aiogram Bot against the Bot API
stand-in, the real NLU, engine and flows, PostgreSQL and Redis; the customer's API over ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.customers import linking as link_service
from backend.db import unit_of_work
from backend.i18n import t
from backend.models import AuditEntry, Conversation, Document
from backend.state import Resources
from bot.linking import UnlinkCallback
from dialogs import access
from dialogs.engine import Engine
from dialogs.nlu.service import NLUService
from dialogs.state import FlowStore
from dialogs.types import Inbound, payload
from tests.bot.harness import BotRuntime, text_of
from tests.bot.test_flows_e2e import balance_text, linked_customer, texts
from tests.factories import make_subscription, make_tariff
from tests.support.telegram_standin import TelegramStandIn

CHAT = 7401
RU = "ru"
API = "/api/v1"
BALANCE = "какой у меня баланс?"
CONTRACT = "пришлите договор"


@pytest.fixture
async def tg(resources: Resources, telegram: TelegramStandIn) -> AsyncIterator[BotRuntime]:
    """The polling runtime (the webhook path feeds the same dispatcher and engine)."""
    runtime = BotRuntime("polling", resources, telegram)
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
async def other_process(resources: Resources) -> AsyncIterator[Engine]:
    """An engine with its own database pool and Redis connection, as in another process."""
    separate = Resources.create(resources.settings)
    try:
        yield Engine(separate, NLUService(rasa=None))
    finally:
        await separate.close()


def identify() -> list[str]:
    return [t("dialogs-identify-telegram", RU)]


async def conversation(session: AsyncSession, chat_id: int = CHAT) -> Conversation:
    session.expire_all()
    found = await session.scalar(select(Conversation).where(Conversation.chat_id == str(chat_id)))
    assert found is not None
    return found


async def documents(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Document)) or 0)


async def assert_anonymous(tg: BotRuntime, session: AsyncSession) -> None:
    """The balance and the contract are refused with "link first"; no file goes out."""
    assert texts(await tg.say(CHAT, BALANCE)) == identify()
    replies = await tg.say(CHAT, CONTRACT)
    assert [c.method for c in replies] == ["sendMessage"] and texts(replies) == identify()
    assert (await conversation(session)).customer_id is None
    assert await documents(session) == 0


async def test_unlink_in_the_bot_cuts_the_chat_off(tg: BotRuntime, session: AsyncSession) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(session, chat_id=CHAT, tariff=tariff, balance=35000)
    customer_id = customer.id
    await tg.start()
    assert texts(await tg.say(CHAT, BALANCE)) == [
        await balance_text(session, tg.settings, customer_id)
    ]
    # a flow in progress when the customer unlinks: its buttons must not deliver afterwards
    kinds = await tg.say(CHAT, "документы")
    assert texts(kinds) == [t("dialogs-support-docs-type", RU)]

    confirm = await tg.command(CHAT, "unlink")
    assert texts(confirm) == [t("telegram-unlink-confirm", RU, contract=customer.contract_number)]
    await tg.press(CHAT, UnlinkCallback(confirm=True).pack())
    assert text_of(tg.telegram.last("editMessageText")) == t("telegram-unlinked", RU)

    # the old "contract" button of the documents question: stale, no PDF
    pressed = await tg.press(CHAT, payload("get_documents", "type", "contract"))
    assert [c.method for c in pressed if c.method == "sendDocument"] == []
    assert t("dialogs-stale-button", RU) in texts(pressed)[0]
    await assert_anonymous(tg, session)
    cut = await session.scalar(
        select(AuditEntry).where(AuditEntry.action == "conversation.customer_detached")
    )
    assert cut is not None and cut.details["customer_id"] == customer_id


async def test_unlink_through_the_api_cuts_every_process(
    tg: BotRuntime, session: AsyncSession, as_customer: Any, other_process: Engine
) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer, headers = await as_customer(balance=35000)
    await make_subscription(session, customer, tariff)
    await link_service.link_telegram(session, customer.id, CHAT, actor=None, conversations=access)
    await session.commit()
    await tg.start()
    assert texts(await tg.say(CHAT, BALANCE)) == [
        await balance_text(session, tg.settings, customer.id)
    ]
    kinds = await tg.say(CHAT, "документы")  # the flow state is in Redis now, mid-flow
    assert texts(kinds) == [t("dialogs-support-docs-type", RU)]
    conv = await conversation(session)
    rev_before = (await FlowStore(tg.resources.redis).load(conv.id, conv.flow)).rev

    response = await tg.api.delete(f"{API}/me/telegram", headers=headers)
    assert response.status_code == 204, response.text

    # at once, before any turn: the database no longer ties the chat to the customer, and the
    # flow state any process would load is a newer, empty one
    conv = await conversation(session)
    assert conv.customer_id is None
    loaded = await FlowStore(other_process.resources.redis).load(conv.id, conv.flow)
    assert loaded.rev > rev_before and loaded.flow is None and loaded.customer is None

    # another process's turn, with no customer from its adapter: anonymous, and the stale
    # button delivers nothing
    replies = await other_process.handle(
        Inbound(channel="telegram", chat_id=str(CHAT), external_id="other-1", customer_id=None,
                locale=RU, payload=payload("get_documents", "type", "contract"))
    )  # fmt: skip
    assert all(getattr(r, "kind", "") != "document" for r in replies)
    replies = await other_process.handle(
        Inbound(channel="telegram", chat_id=str(CHAT), external_id="other-2", customer_id=None,
                locale=RU, text=BALANCE)
    )  # fmt: skip
    assert [getattr(r, "text", None) for r in replies] == identify()
    # and this process, through Telegram
    await assert_anonymous(tg, session)


async def test_relinking_to_another_contract_shows_only_the_new_customer(
    tg: BotRuntime, session: AsyncSession, as_customer: Any
) -> None:
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    first = await linked_customer(session, chat_id=CHAT, tariff=tariff, balance=35000)
    second, headers = await as_customer(balance=12345, contract_number="B-2")
    await session.commit()
    first_id, second_id = first.id, second.id
    await tg.start()
    first_balance = await balance_text(session, tg.settings, first_id)
    assert texts(await tg.say(CHAT, BALANCE)) == [first_balance]
    # the first customer chose English for this chat
    await tg.say(CHAT, "/language")
    await tg.press(CHAT, payload("settings", "lang", "en"))
    assert (await conversation(session)).locale == "en"

    token = (await tg.api.post(f"{API}/me/telegram/link", headers=headers)).json()["token"]
    linked = await tg.command(CHAT, "start", token)
    assert texts(linked)[0] == t("telegram-linked", RU, contract="B-2")
    conv = await conversation(session)
    # the first customer's choice of language went with the link
    assert (conv.customer_id, conv.locale) == (second_id, RU)

    replies = await tg.say(CHAT, BALANCE)
    assert texts(replies) == [await balance_text(session, tg.settings, second_id, RU)]
    assert first_balance not in texts(replies)
    assert "123,45" in texts(replies)[0]
    contract = [c for c in await tg.say(CHAT, CONTRACT) if c.method == "sendDocument"]
    assert len(contract) == 1
    (document,) = (await session.scalars(select(Document))).all()
    assert document.customer_id == second_id


async def test_cutting_a_customer_makes_every_chat_anonymous(
    tg: BotRuntime, session: AsyncSession
) -> None:
    """What deactivating the customer calls (backend/customers/linking.py)."""
    tariff = await make_tariff(session, name="Дом 300", price=60000)
    customer = await linked_customer(session, chat_id=CHAT, tariff=tariff, balance=35000)
    await tg.start()
    assert texts(await tg.say(CHAT, BALANCE)) == [
        await balance_text(session, tg.settings, customer.id)
    ]
    async with unit_of_work(tg.resources.sessionmaker) as s:
        cut = await link_service.cut_customer_access(
            s, customer.id, actor=None, conversations=access
        )
    assert cut == [(await conversation(session)).id]
    await assert_anonymous(tg, session)
