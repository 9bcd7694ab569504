"""What a flow sees during one turn: the unit of work's session, the conversation, the customer
(if identified), the locale, and helpers that keep user-facing text in the Fluent catalogs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from babel.dates import format_skeleton
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import business_today, utcnow
from backend.config import Settings
from backend.i18n import catalog
from backend.i18n import major as i18n_major
from backend.ratelimit import RateLimiter
from backend.redis import Redis
from dialogs.transcript import ConversationRow
from dialogs.types import Button, ParsedIntent, Payload, payload


@dataclass(frozen=True, slots=True)
class TurnInput:
    """The customer's input as a flow receives it: free text (with what NLU made of it) or a
    button of this flow (`button.step` is the step the button belongs to)."""

    text: str | None = None
    button: Payload | None = None
    intent: ParsedIntent = field(default_factory=ParsedIntent)

    @property
    def arg(self) -> str | None:
        return self.button.arg if self.button else None


@dataclass(slots=True)
class TurnContext:
    session: AsyncSession
    settings: Settings
    redis: Redis
    limiter: RateLimiter
    conversation: ConversationRow
    locale: str
    inbound_message_id: int
    now: datetime = field(default_factory=utcnow)
    # Run after the unit of work commits (Redis publishes): nothing leaves before the commit.
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def customer_id(self) -> int | None:
        return self.conversation.customer_id

    @property
    def channel(self) -> str:
        return self.conversation.channel

    @property
    def today(self) -> date:
        return business_today(self.settings)

    def t(self, key: str, /, **args: Any) -> str:
        return catalog().text(key, self.locale, **args)

    def button(
        self, key: str, flow: str, step: str = "", arg: str | int = "", **args: Any
    ) -> Button:
        return Button(label=self.t(key, **args), payload=payload(flow, step, arg))

    major = staticmethod(i18n_major)

    def day(self, value: date) -> str:
        """ "18 сентября" / "September 18"."""
        return format_skeleton("MMMMd", value, locale=self.locale)

    def moment(self, value: datetime) -> str:
        """A local date and time for deadlines ("21 сентября, 14:00")."""
        from zoneinfo import ZoneInfo

        local = value.astimezone(ZoneInfo(self.settings.billing_timezone))
        return f"{self.day(local.date())}, {local:%H:%M}"
