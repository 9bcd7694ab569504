"""The agent console's conversation API: the queue's details, the agent's own conversations,
notes, typing, payment links, conversation -> ticket, web chat attachments and the live events
(real PostgreSQL and Redis, the engine over the keyword parser)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select, update

from backend.clock import utcnow
from backend.i18n import t
from backend.models import (
    Conversation,
    ConversationMessage,
    ConversationState,
    MessageDirection,
    MessageSender,
    OutboxMessage,
    Payment,
    Role,
    Ticket,
    WebchatFile,
)
from tests.backend.webchat.console_support import (
    CONV,
    audit_actions,
    claim,
    listening,
    queued,
)
from tests.factories import make_customer


async def test_queue_items_carry_the_customer_last_message_wait_and_slots(
    client, as_staff, session, resources
) -> None:
    _, customer = await make_customer(session, full_name="Иванова Анна", contract_number="Q-7")
    await session.commit()
    _, older = await queued(resources, session, customer_id=customer.id, chat_id="1")
    # the first one has waited longer and carries what the bot collected
    await session.execute(
        update(Conversation)
        .where(Conversation.id == older)
        .values(
            updated_at=utcnow() - timedelta(minutes=5),
            flow={"flow": "no_internet", "step": "ask", "slots": {"router": "on"}, "rev": 50},
        )
    )
    await session.commit()
    chat, newer = await queued(resources, session, chat_id="2")
    await chat.say("are you there?")  # the bot says an operator will answer soon, once
    await chat.say("anyone?")
    _, staff = await as_staff()

    r = await client.get(CONV, headers=staff)
    assert r.status_code == 200, r.text
    first, second = r.json()["items"]
    assert [first["id"], second["id"]] == [older, newer]  # the longest waiting first
    assert first["customer_name"] == "Иванова Анна" and first["contract_number"] == "Q-7"
    assert first["waiting_seconds"] >= 299
    assert first["slots"] == {"router": "on"}
    # the customer asked for a person and nobody has answered yet
    assert first["awaiting_reply"] is True
    assert first["last_message_from"] == "bot"  # the hand-over notice
    assert second["customer_name"] is None and second["contract_number"] is None
    assert second["last_message"] == "anyone?"
    assert second["last_message_from"] == "customer"
    assert second["awaiting_reply"] is True


async def test_my_conversations_say_who_awaits_an_answer(
    client, as_staff, session, resources
) -> None:
    chat, conv_id = await queued(resources, session)
    agent, staff = await as_staff()
    _, other = await as_staff()
    await claim(client, staff, conv_id)

    mine = (await client.get(f"{AGENT_MINE}", headers=staff)).json()["items"]
    assert [(c["id"], c["awaiting_reply"]) for c in mine] == [(conv_id, True)]
    assert (await client.get(AGENT_MINE, headers=other)).json()["items"] == []

    r = await client.post(f"{CONV}/{conv_id}/messages", headers=staff, json={"text": "Hi"})
    assert r.status_code == 201
    mine = (await client.get(AGENT_MINE, headers=staff)).json()["items"]
    assert mine[0]["awaiting_reply"] is False and mine[0]["last_message"] == "Hi"
    await chat.say("thanks, but still nothing")
    mine = (await client.get(AGENT_MINE, headers=staff)).json()["items"]
    assert mine[0]["awaiting_reply"] is True and mine[0]["agent_id"] == agent.id


AGENT_MINE = "/api/v1/agent/my-conversations"


async def test_notes_are_for_staff_only_audited_and_announced(
    client, as_staff, session, resources
) -> None:
    _, customer = await make_customer(session)
    await session.commit()
    _, conv_id = await queued(resources, session, customer_id=customer.id)
    agent, staff = await as_staff()
    agent_id, agent_email = agent.id, agent.email
    _, colleague = await as_staff()
    await claim(client, staff, conv_id)
    session.expire_all()
    outbox_before = len((await session.scalars(select(OutboxMessage))).all())
    messages_before = len((await session.scalars(select(ConversationMessage))).all())

    async with listening(resources, f"conv:{conv_id}") as listener:
        r = await client.post(
            f"{CONV}/{conv_id}/notes", headers=staff, json={"text": "Called yesterday too"}
        )
        events = await listener.events(0.5)
    assert r.status_code == 201, r.text
    note = r.json()
    assert note["author_id"] == agent_id and note["author_name"] == agent_email
    assert ("conv:" + str(conv_id), {"type": "note", "conversation_id": conv_id,
            "note_id": note["id"]}) in events  # fmt: skip

    # the customer never sees it: no transcript row, nothing to deliver
    session.expire_all()
    assert len((await session.scalars(select(OutboxMessage))).all()) == outbox_before
    assert len((await session.scalars(select(ConversationMessage))).all()) == messages_before
    [entry] = await audit_actions(session, "conversation.note_added")
    assert entry.actor_user_id == agent_id and entry.details["note_id"] == note["id"]

    detail = (await client.get(f"{CONV}/{conv_id}", headers=staff)).json()
    assert [n["text"] for n in detail["notes"]] == ["Called yesterday too"]
    assert all("Called yesterday" not in (m["text"] or "") for m in detail["messages"])

    # a colleague reads the notes of a conversation outside their lists: shown and audited
    r = await client.get(f"{CONV}/{conv_id}/notes", headers=colleague)
    assert r.status_code == 200 and [n["id"] for n in r.json()["items"]] == [note["id"]]
    [viewed] = await audit_actions(session, "conversation.viewed")
    assert viewed.details["what"] == "notes"

    r = await client.post(f"{CONV}/{conv_id}/notes", headers=staff, json={"text": ""})
    assert r.status_code == 422 and r.json()["error"] == "validation_error"
    r = await client.post(f"{CONV}/{conv_id}/notes", headers=staff, json={"txt": "x"})
    assert r.status_code == 422
    r = await client.post(f"{CONV}/999999/notes", headers=staff, json={"text": "x"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    _, customer_headers = await _customer_headers(session, resources)
    r = await client.post(f"{CONV}/{conv_id}/notes", headers=customer_headers, json={"text": "x"})
    assert r.status_code == 403


async def _customer_headers(session, resources):
    from tests.factories import signed_in_customer

    customer, headers = await signed_in_customer(session, resources.settings)
    await session.commit()
    return customer, headers


async def test_typing_reaches_the_conversation_channel_from_the_holder_only(
    client, as_staff, session, resources
) -> None:
    _, conv_id = await queued(resources, session)
    agent, staff = await as_staff()
    agent.display_name = "Мария"
    await session.commit()
    _, other = await as_staff()
    await claim(client, staff, conv_id)

    async with listening(resources, f"conv:{conv_id}") as listener:
        first = await client.post(f"{CONV}/{conv_id}/typing", headers=staff)
        again = await client.post(f"{CONV}/{conv_id}/typing", headers=staff)
        events = await listener.events(0.5)
    assert first.json() == {"published": True} and again.json() == {"published": False}
    typing = [e for _, e in events if e["type"] == "typing"]
    assert typing == [
        {"type": "typing", "conversation_id": conv_id, "from": "agent", "name": "Мария"}
    ]

    r = await client.post(f"{CONV}/{conv_id}/typing", headers=other)
    assert r.status_code == 403 and r.json()["error"] == "not_your_conversation"
    r = await client.post(f"{CONV}/424242/typing", headers=staff)
    assert r.status_code == 404


async def test_a_payment_link_is_sent_once_per_key_as_a_payment_item(
    client, as_staff, session, resources
) -> None:
    _, customer = await make_customer(session)
    await session.commit()
    customer_id = customer.id
    _, conv_id = await queued(resources, session, customer_id=customer_id)
    agent, staff = await as_staff()
    agent_id = agent.id
    await claim(client, staff, conv_id)
    url = f"{CONV}/{conv_id}/payment-link"

    r = await client.post(url, headers=staff, json={"amount": 50000})
    assert r.status_code == 422 and r.json()["error"] == "idempotency_key_required"
    keyed = {**staff, "Idempotency-Key": "pl-1"}
    r = await client.post(url, headers=keyed, json={"amount": 50000})
    assert r.status_code == 201, r.text
    sent = r.json()
    assert sent["amount"] == 50000 and sent["confirmation_url"]
    again = await client.post(url, headers=keyed, json={"amount": 50000})
    assert again.status_code == 201 and again.json() == sent
    assert again.headers["Idempotent-Replayed"] == "true"

    session.expire_all()
    payments = (await session.scalars(select(Payment))).all()
    assert [(p.customer_id, p.amount, p.public_id) for p in payments] == [
        (customer_id, 50000, sent["payment_id"])
    ]
    message = await session.get(ConversationMessage, sent["message_id"])
    assert message is not None and message.sender is MessageSender.agent
    item = message.payload["item"]
    assert item["kind"] == "payment" and item["payment_public_id"] == sent["payment_id"]
    assert item["confirmation_url"] == sent["confirmation_url"]
    assert item["text"] == t("dialogs-topup-link", "en", amount=500)
    replies = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.kind == "conversation.agent_reply")
    )
    assert sent["message_id"] in [o.payload["message_id"] for o in replies]
    [entry] = await audit_actions(session, "conversation.agent_payment_link")
    assert entry.actor_user_id == agent_id and entry.details["amount"] == 50000

    r = await client.post(url, headers={**staff, "Idempotency-Key": "pl-2"}, json={"amount": 1})
    assert r.status_code == 422 and r.json()["error"] == "amount_out_of_range"
    r = await client.post(url, headers={**staff, "Idempotency-Key": "pl-3"}, json={"amount": "5"})
    assert r.status_code == 422 and r.json()["error"] == "validation_error"
    _, other = await as_staff()
    r = await client.post(url, headers={**other, "Idempotency-Key": "pl-4"}, json={"amount": 50000})
    assert r.status_code == 403 and r.json()["error"] == "not_your_conversation"
    session.expire_all()
    assert len((await session.scalars(select(Payment))).all()) == 1


async def test_no_payment_link_nor_ticket_for_an_anonymous_visitor(
    client, as_staff, session, resources
) -> None:
    _, conv_id = await queued(resources, session, channel="webchat", chat_id="v" * 64)
    _, staff = await as_staff()
    await claim(client, staff, conv_id)
    r = await client.post(
        f"{CONV}/{conv_id}/payment-link",
        headers={**staff, "Idempotency-Key": "k"},
        json={"amount": 50000},
    )
    assert r.status_code == 409 and r.json()["error"] == "conversation_anonymous"
    r = await client.post(f"{CONV}/{conv_id}/ticket", headers=staff, json={"subject": "Wi-Fi"})
    assert r.status_code == 409 and r.json()["error"] == "conversation_anonymous"
    session.expire_all()
    assert (await session.scalars(select(Payment))).all() == []
    assert (await session.scalars(select(Ticket))).all() == []


async def test_a_conversation_becomes_a_ticket_with_its_transcript(
    client, as_staff, session, resources
) -> None:
    _, customer = await make_customer(session)
    await session.commit()
    chat, conv_id = await queued(resources, session, customer_id=customer.id)
    await chat.say("the router blinks red")
    agent, staff = await as_staff()
    agent_id = agent.id
    _, other = await as_staff()
    _, admin = await as_staff(Role.admin)
    await claim(client, staff, conv_id)

    url = f"{CONV}/{conv_id}/ticket"
    r = await client.post(url, headers=other, json={"subject": "Router"})
    assert r.status_code == 403 and r.json()["error"] == "not_your_conversation"
    r = await client.post(url, headers=staff, json={"subject": "x"})
    assert r.status_code == 422
    r = await client.post(url, headers=staff, json={"subject": "Router", "category": "nope"})
    assert r.status_code == 422

    r = await client.post(
        url, headers=staff, json={"subject": "Router blinks red", "category": "equipment"}
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    assert ticket["customer_id"] == customer.id and ticket["category"] == "equipment"
    assert ticket["details"] == {"conversation_id": conv_id, "channel": "telegram"}
    description = ticket["description"]
    assert description.startswith(t("dialogs-agent-ticket-intro", "en", id=conv_id,
                                     channel="telegram"))  # fmt: skip
    assert "Customer: the router blinks red" in description
    assert "Customer: agent please" in description

    session.expire_all()
    last = await session.scalar(
        select(ConversationMessage)
        .where(ConversationMessage.conversation_id == conv_id)
        .order_by(ConversationMessage.id.desc())
        .limit(1)
    )
    assert last is not None and last.text == t(
        "dialogs-agent-ticket-opened", "en", id=ticket["id"], subject="Router blinks red"
    )
    [entry] = await audit_actions(session, "conversation.ticket_created")
    assert entry.actor_user_id == agent_id and entry.details["ticket_id"] == ticket["id"]
    assert len(await audit_actions(session, "ticket.create")) == 1
    # an admin may too, without holding it
    r = await client.post(url, headers=admin, json={"subject": "Second look"})
    assert r.status_code == 201 and r.json()["category"] == "other"


async def test_a_web_chat_attachment_is_served_from_the_database(
    client, as_staff, session, resources
) -> None:
    _, conv_id = await queued(resources, session, channel="webchat", chat_id="w" * 64)
    _, other_conv = await queued(resources, session, channel="webchat", chat_id="x" * 64)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    for cid, public_id in ((conv_id, "p" * 43), (other_conv, "q" * 43)):
        session.add(
            WebchatFile(
                public_id=public_id,
                conversation_id=cid,
                filename="router.png",
                content_type="image/png",
                size=len(png),
                sha256=hashlib.sha256(png).hexdigest(),
                data=png,
                created_at=utcnow(),
            )
        )
    attachments = [
        {"kind": "photo", "file_id": "web:" + "p" * 43, "filename": "router.png"},
        # another conversation's file named in this one is not served
        {"kind": "photo", "file_id": "web:" + "q" * 43, "filename": "other.png"},
    ]
    message = ConversationMessage(
        conversation_id=conv_id,
        direction=MessageDirection.inbound,
        sender=MessageSender.customer,
        external_id="att-1",
        text=None,
        payload={"attachments": attachments},
        created_at=utcnow(),
    )
    session.add(message)
    await session.commit()
    _, staff = await as_staff()

    detail = (await client.get(f"{CONV}/{conv_id}", headers=staff)).json()
    shown = next(m for m in detail["messages"] if m["id"] == message.id)
    url = shown["attachments"][0]["url"]
    r = await client.get(url, headers=staff)
    assert r.status_code == 200 and r.content == png
    assert r.headers["content-type"] == "image/png"
    assert r.headers["content-disposition"].startswith("inline; filename*=UTF-8''router.png")
    assert r.headers["x-content-type-options"] == "nosniff"
    r = await client.get(shown["attachments"][1]["url"], headers=staff)
    assert r.status_code == 404 and r.json()["error"] == "attachment_not_found"


async def test_claim_and_release_are_announced_to_every_console(
    client, as_staff, session, resources
) -> None:
    _, conv_id = await queued(resources, session)
    _, staff = await as_staff()
    async with listening(resources, "agents:events", f"conv:{conv_id}") as listener:
        await claim(client, staff, conv_id)
        r = await client.post(f"{CONV}/{conv_id}/messages", headers=staff, json={"text": "Hi"})
        assert r.status_code == 201
        r = await client.post(f"{CONV}/{conv_id}/release", headers=staff)
        assert r.status_code == 200
        events = await listener.events(0.5)
    queue = [e for ch, e in events if ch == "agents:events"]
    assert queue == [
        {"type": "queue", "event": "claimed", "conversation_id": conv_id},
        {"type": "queue", "event": "released", "conversation_id": conv_id},
    ]
    actions = [e["action"] for ch, e in events if ch == f"conv:{conv_id}"]
    assert actions == ["claimed", "replied", "released"]
    session.expire_all()
    conv = await session.get(Conversation, conv_id)
    assert conv is not None and conv.state is ConversationState.bot
