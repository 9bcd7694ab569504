"""A keyword parser standing in for dialogs.nlu, an engine per test, and helpers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import event

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
