"""A keyword parser standing in for dialogs.nlu, an engine per test, and helpers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, text

from backend.state import Resources
from dialogs.engine import Engine
from dialogs.types import Inbound, Outbound, Text

KEYWORDS = (
    ("check_balance", ("balance", "баланс")),
    ("top_up", ("top up", "pay", "пополн", "заплатить")),
    ("payment_history", ("history", "история")),
    ("talk_to_agent", ("operator please", "человек", "agent please")),
    ("greet", ("hello", "привет", "здравствуй")),
    ("help", ("help", "помощь")),
    ("thanks", ("thanks", "спасибо")),
)


class KeywordParser:
    """Rasa's parse shape from keywords; anything else is out_of_scope."""

    def parse(self, text: str, lang: str | None = None) -> dict[str, Any]:
        low = text.lower()
        name, confidence = "out_of_scope", 0.3
        for intent, words in KEYWORDS:
            if any(w in low for w in words):
                name, confidence = intent, 0.95
                break
        entities = []
        match = re.search(r"\d+", low)
        if match:
            entities.append(
                {"entity": "amount", "value": int(match.group()), "start": match.start(),
                 "end": match.end()}
            )  # fmt: skip
        return {
            "text": text,
            "intent": {"name": name, "confidence": confidence},
            "entities": entities,
            "intent_ranking": [{"name": name, "confidence": confidence}],
        }


@pytest.fixture
def engine(resources: Resources) -> Engine:
    return Engine(resources, KeywordParser())


# A write of `conversations.flow` that does not raise the revision would let a stale copy of
# the flow state win the next read (dialogs/state.py); the database refuses it here.
_REVISION_GUARD = (
    """CREATE OR REPLACE FUNCTION test_flow_revision_guard() RETURNS trigger AS $$
    BEGIN
        IF NEW.flow IS DISTINCT FROM OLD.flow
           AND coalesce((NEW.flow->>'rev')::int, -1) <= coalesce((OLD.flow->>'rev')::int, -1)
        THEN
            RAISE EXCEPTION 'flow state of conversation % written without a new revision (% -> %)',
                OLD.id, OLD.flow->>'rev', NEW.flow->>'rev';
        END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS test_flow_revision_guard ON conversations",
    """CREATE TRIGGER test_flow_revision_guard BEFORE UPDATE ON conversations
    FOR EACH ROW EXECUTE FUNCTION test_flow_revision_guard()""",
)


@pytest.fixture(autouse=True)
async def _flow_revisions_only_go_up(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test of this folder that writes a flow state fails if the write skips
    `dialogs.state.revise()`: the engine turns, the hand-over, the cuts, whatever comes next.
    (A turn that fails this way answers `dialogs-error` and stores nothing.)"""
    if "resources" not in request.fixturenames:
        yield
        return
    resources: Resources = request.getfixturevalue("resources")
    async with resources.engine.begin() as conn:
        for statement in _REVISION_GUARD:
            await conn.execute(text(statement))
    yield
    async with resources.engine.begin() as conn:
        await conn.execute(text(_REVISION_GUARD[1]))


class Chat:
    """One chat driving the engine, with update ids like Telegram's."""

    def __init__(self, engine: Engine, *, channel: str = "telegram", chat_id: str = "100",
                 customer_id: int | None = None, locale: str | None = "ru") -> None:  # fmt: skip
        self.engine, self.channel, self.chat_id = engine, channel, chat_id
        self.customer_id, self.locale = customer_id, locale
        self.seq = 0

    async def say(self, text: str | None = None, *, payload: str | None = None,
                  external_id: str | None = None) -> list[Outbound]:  # fmt: skip
        self.seq += 1
        return await self.engine.handle(
            Inbound(
                channel=self.channel,  # type: ignore[arg-type]
                chat_id=self.chat_id,
                external_id=external_id or f"u{self.seq}",
                customer_id=self.customer_id,
                locale=self.locale,
                text=text,
                payload=payload,
            )
        )


def texts(items: list[Outbound]) -> str:
    return "\n".join(getattr(i, "text", "") or "" for i in items)


def buttons(items: list[Outbound]) -> list[tuple[str, str]]:
    return [(b.label, b.payload) for i in items if isinstance(i, Text) for row in i.buttons
            for b in row]  # fmt: skip


class StatementCounter:
    def __init__(self, resources: Resources) -> None:
        self.engine = resources.engine.sync_engine
        self.statements: list[str] = []

    def _on(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._on)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._on)
