"""The engine's guarantees: restart mid-flow, redelivery, bad input, round trips per turn."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.i18n import t
from backend.models import Conversation, ConversationMessage, ConversationState
from backend.state import Resources
from dialogs.engine import Engine
from dialogs.types import payload
from tests.dialogs.engine.conftest import Chat, KeywordParser, StatementCounter, buttons, texts
from tests.factories import make_customer, make_subscription, make_tariff


async def _customer(session):
    _, customer = await make_customer(session, balance=35000)
    await make_subscription(session, customer, await make_tariff(session, price=60000))
    await session.commit()
    return customer


@pytest.mark.parametrize("flush_redis", [False, True])
async def test_restart_mid_flow_resumes(resources: Resources, session, flush_redis: bool) -> None:
    customer = await _customer(session)
    chat = Chat(Engine(resources, KeywordParser()), channel="webchat", customer_id=customer.id)
    replies = await chat.say("пополнить")
    await chat.say(payload=dict(buttons(replies))[t("dialogs-topup-preset-other", "ru")])
    if flush_redis:
        await resources.redis.flushdb()
    chat.engine = Engine(resources, KeywordParser())  # a new process
    replies = await chat.say("300")
    assert getattr(replies[0], "amount", None) == 30000


async def test_redelivery_is_not_processed_twice(engine: Engine, session) -> None:
    customer = await _customer(session)
    chat = Chat(engine, channel="webchat", customer_id=customer.id)
    first = await chat.say("пополнить 500", external_id="upd-1")
    again = await chat.say("пополнить 500", external_id="upd-1")
    assert again == first  # the stored replies, not a second payment
    from backend.models import Payment

    assert await session.scalar(select(func.count()).select_from(Payment)) == 1
    assert await session.scalar(select(func.count()).select_from(ConversationMessage)) == 2


@pytest.mark.parametrize(
    "text",
    ["", "   ", "x" * 10_000, "😀😀🎉", "Wie ist mein Kontostand bitte?"],
    ids=["empty", "blank", "10k", "emoji", "german"],
)
async def test_bad_input_keeps_the_flow(engine: Engine, session, text: str) -> None:
    customer = await _customer(session)
    chat = Chat(engine, channel="webchat", customer_id=customer.id)
    await chat.say("пополнить")
    before = await session.scalar(select(Conversation.flow))
    replies = await chat.say(text)
    assert replies and texts(replies)
    session.expire_all()
    after = await session.scalar(select(Conversation.flow))
    assert (after["flow"], after["step"], after["slots"]) == (
        before["flow"],
        before["step"],
        before["slots"],
    )
    assert await session.scalar(select(Conversation.state)) is ConversationState.bot


@pytest.mark.parametrize("raw", ["v0:top_up:amount:100", "v1:gone_flow:x:1", "garbage",
                                 "v1:top_up:amount:60000", "v1:nav:fly:"])  # fmt: skip
async def test_stale_or_unknown_buttons(engine: Engine, session, raw: str) -> None:
    chat = Chat(engine, locale="en")
    replies = await chat.say(payload=raw)
    assert texts(replies).startswith(t("dialogs-stale-button", "en"))


async def test_engine_error_offers_an_agent(resources: Resources, session) -> None:
    class Broken:
        def parse(self, text: str, lang: str | None = None) -> dict[str, object]:
            raise RuntimeError("boom")

    engine = Engine(resources, Broken())
    replies = await Chat(engine, locale="en").say("hello")
    assert texts(replies) == t("dialogs-fallback", "en")  # an NLU failure is a miss

    async def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    engine._bot_turn = explode  # type: ignore[method-assign,assignment]
    replies = await Chat(engine, chat_id="200", locale="en").say("hello")
    assert texts(replies) == t("dialogs-error", "en")
    assert payload("nav", "agent") in [p for _, p in buttons(replies)]


async def test_database_round_trips_of_a_balance_turn(engine: Engine, resources, session) -> None:
    customer = await _customer(session)
    chat = Chat(engine, customer_id=customer.id)
    await chat.say("баланс")  # the conversation exists from now on
    with StatementCounter(resources) as counter:
        await chat.say("баланс")
    # the conversation upserted with the inbound message (one statement on PostgreSQL), the
    # balance query (the flow's business), the reply
    assert len(counter.statements) == 3, counter.statements
    with StatementCounter(resources) as counter:
        await chat.say("пополнить")  # the flow state changes: written in the replies' INSERT
    flow_writes = [s for s in counter.statements if s.lstrip().upper().startswith("UPDATE")]
    assert flow_writes == []
