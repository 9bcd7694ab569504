"""Flow state revisions (dialogs/state.py): the flow state is stored twice and a read takes the
higher revision, so every write must go above the revision it replaces - otherwise a stale copy
(Redis written late by another process, or simply not expired) wins the next read and a flow
the customer left, or another customer's, comes back.

Held to it three ways: the writers take only a `Revision`, which only `revise()` / `restart()`
make (the first tests); the database of every test in this folder refuses a write that does
not raise the revision (conftest.py); and each way a conversation starts afresh is driven here
with the old copy left in Redis."""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from backend.audit.service import Actor
from backend.db import unit_of_work
from backend.i18n import t
from backend.models import Conversation, Customer, Role
from backend.state import Resources
from dialogs import access, handover, transcript
from dialogs.engine import Engine
from dialogs.state import KEY, FlowState, FlowStore, Revision, restart, revise
from dialogs.types import Outbound, PaymentRequest, payload
from tests.dialogs.engine.conftest import Chat, texts
from tests.factories import make_customer, make_subscription, make_tariff, make_user

ROOT = Path(__file__).resolve().parents[3]

# --- the one function -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state_rev", "replaced_rev", "expected"), [(0, 0, 1), (3, 3, 4), (0, 7, 8), (9, 2, 10)]
)
def test_a_revision_is_above_what_it_replaces(
    state_rev: int, replaced_rev: int, expected: int
) -> None:
    state = FlowState(flow="top_up", step="amount", slots={"a": 1}, rev=state_rev, customer=5)
    revision = revise(state, FlowState(rev=replaced_rev))
    assert revision.rev == expected
    assert revision.data == state.to_json() | {"rev": expected}
    assert state.rev == state_rev  # the state itself is left as it was


@pytest.mark.parametrize(
    "stored",
    [None, {}, {"flow": "top_up", "step": "amount", "rev": 4}, {"slots": "broken", "rev": "4"}],
    ids=["none", "empty", "in-progress", "unreadable"],
)
def test_restart_is_idle_and_above_the_stored_copy(stored: dict[str, Any] | None) -> None:
    revision = restart(stored)
    assert FlowState.from_json(revision.data).same_as(FlowState())
    assert revision.rev == FlowState.from_json(stored).rev + 1


def test_every_writer_takes_a_revision() -> None:
    """A writer of the flow state that took a plain dict or a FlowState could skip revise()."""
    writers = {
        name: fn
        for name, fn in inspect.getmembers(transcript, inspect.iscoroutinefunction)
        if fn.__module__ == transcript.__name__ and "flow" in inspect.signature(fn).parameters
    }
    assert set(writers) >= {"add_outbound", "save_flow", "set_state", "set_customer"}
    for name, fn in writers.items():
        assert typing.get_type_hints(fn)["flow"] in (Revision, Revision | None), name
    assert typing.get_type_hints(FlowStore.save)["revision"] is Revision


# what only dialogs/state.py may do: make a Revision, set a revision number
_MAKES_A_REVISION = re.compile(r"\bRevision\(|\.rev\s*\+?=(?!=)|\brev\s*=(?!=)")
# what only dialogs/transcript.py may do: change a conversations row
_UPDATES_CONVERSATIONS = re.compile(r"update\(\s*Conversation\s*\)|UPDATE\s+conversations\b")


def test_revisions_are_made_in_one_place() -> None:
    found = []
    for path in sorted(p for d in ("backend", "bot", "dialogs") for p in (ROOT / d).rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        source = path.read_text(encoding="utf-8")
        if name != "dialogs/state.py" and _MAKES_A_REVISION.search(source):
            found.append(name)
        if name != "dialogs/transcript.py" and _UPDATES_CONVERSATIONS.search(source):
            found.append(name)
    assert found == []


# --- the database guard -----------------------------------------------------------------------


async def _customer(session: Any) -> Customer:
    _, customer = await make_customer(session, balance=35000)
    await make_subscription(session, customer, await make_tariff(session, price=60000))
    await session.commit()
    return customer


async def _stored(resources: Resources, chat_id: str = "100") -> tuple[int, dict[str, Any]]:
    async with resources.sessionmaker() as s:
        row = (
            await s.execute(
                select(Conversation.id, Conversation.flow).where(Conversation.chat_id == chat_id)
            )
        ).one()
    return row.id, dict(row.flow)


async def _in_progress(resources: Resources, chat: Chat) -> tuple[int, dict[str, Any]]:
    """A top-up waiting for its amount; Redis holds the same copy as the database."""
    await chat.say("пополнить")
    conv_id, flow = await _stored(resources, chat.chat_id)
    assert (flow["flow"], flow["step"]) == ("top_up", "amount")
    assert json.loads(await resources.redis.get(KEY.format(conv_id))) == flow
    return conv_id, flow


async def test_the_guard_refuses_a_write_that_keeps_the_revision(
    engine: Engine, resources: Resources, session: Any
) -> None:
    """The guard of conftest.py can fail: a Revision made by hand at the stored revision."""
    customer = await _customer(session)
    conv_id, flow = await _in_progress(resources, Chat(engine, customer_id=customer.id))
    same = Revision(FlowState().to_json() | {"rev": flow["rev"]})
    with pytest.raises(DBAPIError, match="without a new revision"):
        async with unit_of_work(resources.sessionmaker) as s:
            await transcript.save_flow(s, conv_id, same)


# --- every way a conversation starts afresh ---------------------------------------------------

Turn = Callable[[Chat, Customer], Awaitable[list[Outbound]]]


async def _as_another_customer(chat: Chat, other: Customer) -> list[Outbound]:
    chat.customer_id = other.id
    return await chat.say("привет")


TURNS: dict[str, Turn] = {
    "/cancel": lambda chat, _: chat.say("/cancel"),
    "/start": lambda chat, _: chat.say("/start"),
    "cancel word": lambda chat, _: chat.say("отмена"),
    "menu word": lambda chat, _: chat.say("меню"),
    "back at the first step": lambda chat, _: chat.say("назад"),
    "cancel button": lambda chat, _: chat.say(payload=payload("nav", "cancel")),
    "menu button": lambda chat, _: chat.say(payload=payload("nav", "menu")),
    "another request": lambda chat, _: chat.say("баланс"),
    "another customer": _as_another_customer,
}


@pytest.mark.parametrize("turn", list(TURNS.values()), ids=list(TURNS))
async def test_a_turn_that_ends_the_flow_outranks_every_older_copy(
    engine: Engine, resources: Resources, session: Any, turn: Turn
) -> None:
    customer, other = await _customer(session), await _customer(session)
    chat = Chat(engine, customer_id=customer.id)
    conv_id, in_progress = await _in_progress(resources, chat)

    replies = await turn(chat, other)
    assert t("dialogs-error", "ru") not in texts(replies)
    _, after = await _stored(resources)
    assert after["flow"] is None and after["rev"] > in_progress["rev"]

    # another process writes the old copy to Redis late: it loses the next read
    await resources.redis.set(KEY.format(conv_id), json.dumps(in_progress))
    assert not (await FlowStore(resources.redis).load(conv_id, after)).active


Reset = Callable[[Any, Resources, int, Actor, Customer], Awaitable[object]]


async def _release(s: Any, res: Resources, conv_id: int, agent: Actor, _: Customer) -> object:
    await handover.claim(s, res.settings, conv_id, agent)
    return await handover.release(s, res.settings, conv_id, agent)


async def _close(s: Any, res: Resources, conv_id: int, agent: Actor, _: Customer) -> object:
    await handover.claim(s, res.settings, conv_id, agent)
    return await handover.close(s, res.settings, conv_id, agent, resolution="solved")


async def _cut_customer(s: Any, _: Resources, conv_id: int, __: Actor, cust: Customer) -> object:
    return await access.cut_customer(s, cust.id, actor=None, reason="test")


async def _cut_chat(s: Any, _: Resources, conv_id: int, __: Actor, cust: Customer) -> object:
    return await access.cut_chats(s, "telegram", ["100"], to_customer=None, actor=None, reason="t")


RESETS: dict[str, Reset] = {
    "handover release": _release,
    "handover close": _close,
    "cut customer": _cut_customer,
    "cut chat": _cut_chat,
}


@pytest.mark.parametrize("reset", list(RESETS.values()), ids=list(RESETS))
async def test_a_reset_outside_a_turn_outranks_the_redis_copy(
    engine: Engine, resources: Resources, session: Any, reset: Reset
) -> None:
    """Hand-over and cuts write the database copy only; Redis keeps the flow in progress."""
    customer = await _customer(session)
    agent = await make_user(session, role=Role.agent)
    await session.commit()
    actor = Actor(user_id=agent.id, role=Role.agent)
    chat = Chat(engine, customer_id=customer.id)
    conv_id, _ = await _in_progress(resources, chat)
    if reset in (_release, _close):
        await chat.say("человек")  # the flow in progress stays for the agent to see
    _, in_progress = await _stored(resources)
    assert in_progress["flow"] == "top_up"

    async with unit_of_work(resources.sessionmaker) as s:
        await reset(s, resources, conv_id, actor, customer)

    _, after = await _stored(resources)
    assert after["flow"] is None and after["rev"] > in_progress["rev"]
    assert json.loads(await resources.redis.get(KEY.format(conv_id))) == in_progress
    assert not (await FlowStore(resources.redis).load(conv_id, after)).active
    # and the customer's next answer to the old question starts nothing
    replies = await chat.say("300")
    assert not [r for r in replies if isinstance(r, PaymentRequest)]
