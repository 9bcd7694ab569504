"""The web chat in the notification worker (docs/webchat-protocol.md, "Notifications in the
widget"): a customer's notice also lands, once, in their web chat conversation identified within
WEBCHAT_NOTIFY_DAYS, announced on its Redis channel (an open widget shows it at once); and the
web adapter's conversation rows are consumed (a waiting conversation announced on
`agents:events`, a web chat agent reply marked done, a Telegram one left to the bot)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from backend.clock import utcnow
from backend.models import (
    Conversation,
    ConversationMessage,
    ConversationState,
    MessageDirection,
    MessageSender,
    OutboxStatus,
)
from notifications.channels import (
    ChannelRegistry,
    FakeChannel,
    TemporaryDeliveryError,
    WebchatChannel,
)
from notifications.worker import deliver_conversation_events, deliver_once
from tests.factories import make_customer
from tests.notifications.helpers import enqueue_committed, rows

CREDITED = {"amount": 50000, "balance": 85000, "currency": "RUB"}


async def _customer_with_chat(session, *, days_ago: float = 0, email: bool = True):
    _, customer = await make_customer(session)
    if not email:
        customer.email = None
    await session.flush()
    conversation = Conversation(
        channel="webchat",
        chat_id=f"{customer.id:064d}",
        customer_id=customer.id,
        state=ConversationState.bot,
        flow={},
        locale="en",
        updated_at=utcnow() - timedelta(days=days_ago),
    )
    session.add(conversation)
    await session.commit()
    # ids, not rows: the tests expire the session to read what the worker wrote
    return customer.id, conversation.id


def _registry(resources, email: FakeChannel) -> ChannelRegistry:
    return ChannelRegistry({"email": email, "webchat": WebchatChannel(resources)})


async def _notices(session, conversation_id: int) -> list[ConversationMessage]:
    session.expire_all()
    await session.rollback()
    query = select(ConversationMessage).where(
        ConversationMessage.conversation_id == conversation_id
    )
    return list(await session.scalars(query.order_by(ConversationMessage.id)))


async def test_a_payment_notice_also_lands_in_the_web_chat(resources, session):
    customer_id, conversation_id = await _customer_with_chat(session)
    email = FakeChannel()
    pubsub = resources.redis.pubsub()
    await pubsub.subscribe(f"conv:{conversation_id}")
    await pubsub.get_message(timeout=1)
    try:
        await enqueue_committed(
            resources, {"customer_id": customer_id, **CREDITED}, "pay:1", kind="payment.credited"
        )
        assert await deliver_once(resources, _registry(resources, email)) == 1
        event = await pubsub.get_message(ignore_subscribe_messages=True, timeout=3)
    finally:
        await pubsub.aclose()
    [sent] = email.sent  # the email goes too
    [notice] = await _notices(session, conversation_id)
    assert notice.sender is MessageSender.bot and notice.direction is MessageDirection.outbound
    assert notice.text == sent.text
    assert "850" in notice.text  # the balance, in major units
    assert notice.payload["item"] == {"kind": "text", "text": sent.text, "buttons": []}
    assert notice.payload["notification"] == "payment.credited"
    assert event is not None
    assert json.loads(event["data"]) == {"type": "notification",
                                         "conversation_id": conversation_id,
                                         "message_id": notice.id}  # fmt: skip
    [row] = await rows(session)
    assert row.status == OutboxStatus.done


async def test_a_retried_notice_is_not_repeated_in_the_chat(resources, session):
    customer_id, conversation_id = await _customer_with_chat(session)
    email = FakeChannel()
    email.fail_with = TemporaryDeliveryError("smtp 451")
    await enqueue_committed(
        resources, {"customer_id": customer_id, **CREDITED}, "pay:2", kind="payment.credited"
    )
    registry = _registry(resources, email)
    await deliver_once(resources, registry)
    [row] = await rows(session)
    assert row.status == OutboxStatus.pending  # to be retried
    email.fail_with = None
    await deliver_once(resources, registry, clock=lambda: utcnow() + timedelta(hours=2))
    [row] = await rows(session)
    assert row.status == OutboxStatus.done and len(email.sent) == 1
    assert len(await _notices(session, conversation_id)) == 1


async def test_the_web_chat_alone_reaches_a_customer_without_email(resources, session):
    customer_id, conversation_id = await _customer_with_chat(session, email=False)
    email = FakeChannel()
    await enqueue_committed(
        resources, {"customer_id": customer_id, **CREDITED}, "pay:3", kind="payment.credited"
    )
    await deliver_once(resources, _registry(resources, email))
    assert email.sent == []
    assert len(await _notices(session, conversation_id)) == 1
    [row] = await rows(session)
    assert row.status == OutboxStatus.done


async def test_an_old_or_anonymous_conversation_gets_nothing(resources, session):
    old_customer, old = await _customer_with_chat(session, days_ago=31)
    cut_customer, cut = await _customer_with_chat(session)
    await session.execute(
        update(Conversation).where(Conversation.id == cut).values(customer_id=None)
    )
    await session.commit()
    email = FakeChannel()
    for n, customer_id in enumerate((old_customer, cut_customer)):
        await enqueue_committed(
            resources, {"customer_id": customer_id, **CREDITED}, f"p{n}", kind="payment.credited"
        )
    await deliver_once(resources, _registry(resources, email))
    assert len(email.sent) == 2
    assert await _notices(session, old) == [] and await _notices(session, cut) == []


async def test_no_chat_and_no_address_is_dead_lettered(resources, session):
    _, customer = await make_customer(session)
    customer.email = None
    customer_id = customer.id
    await session.commit()
    await enqueue_committed(
        resources, {"customer_id": customer_id, **CREDITED}, "pay:4", kind="payment.credited"
    )
    await deliver_once(resources, _registry(resources, FakeChannel()))
    [row] = await rows(session)
    assert row.status == OutboxStatus.dead and "no reachable channel" in (row.last_error or "")


# --- the web adapter's conversation rows ----------------------------------------------------


async def test_conversation_rows_are_consumed(resources, session):
    await enqueue_committed(
        resources,
        {"conversation_id": 7, "channel": "webchat", "customer_id": None, "reason": "asked"},
        "w:7",
        kind="conversation.waiting_agent",
    )
    await enqueue_committed(
        resources,
        {"conversation_id": 7, "message_id": 3, "channel": "webchat", "chat_id": "c"},
        "r:3",
        kind="conversation.agent_reply",
    )
    await enqueue_committed(
        resources,
        {"conversation_id": 8, "message_id": 4, "channel": "telegram", "chat_id": "42"},
        "r:4",
        kind="conversation.agent_reply",
    )
    await enqueue_committed(
        resources,
        {"conversation_id": 8, "message_id": 5, "channel": "telegram"},
        "conv-in:5",
        kind="conversation.customer_message",
    )
    pubsub = resources.redis.pubsub()
    await pubsub.subscribe("agents:events")
    await pubsub.get_message(timeout=1)
    try:
        # the customers' worker leaves them alone; this consumer takes the web adapter's
        assert await deliver_once(resources, ChannelRegistry()) == 0
        assert await deliver_conversation_events(resources) == 3
        event = await pubsub.get_message(ignore_subscribe_messages=True, timeout=3)
    finally:
        await pubsub.aclose()
    assert event is not None
    assert json.loads(event["data"]) == {"type": "queue", "event": "waiting_agent",
                                         "conversation_id": 7}  # fmt: skip
    waiting, web_reply, telegram_reply, customer_message = await rows(session)
    assert waiting.status == OutboxStatus.done
    assert web_reply.status == OutboxStatus.done and web_reply.last_error
    assert telegram_reply.status == OutboxStatus.pending  # the bot delivers it
    assert customer_message.status == OutboxStatus.done  # the console read it already
    assert await deliver_conversation_events(resources) == 0
