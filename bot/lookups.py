"""The bot's reads and writes outside the inbox table: who a Telegram user is (the linked
customer and locale), whether the user can be reached, and the tariff names the NLU knows.

`prefetch` is the one read made under a chat's lock: the inbox reads the sender's identity in
the transaction that claims the update (bot/inbox.py), so the turn's IdentityMiddleware
(bot/handlers.py) needs no query and no connection of its own. `Prefetched` is the agreement
between the two: the inbox `put`s it into the dispatcher's data, the middleware `get`s it, and
both sides are typed. The rest runs wherever it is called, with no lock: `set_reachable` from
the handlers and from the outbox delivery, `active_tariff_names` at start."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.clock import utcnow
from backend.models import ChannelIdentity, Customer, Tariff
from backend.models.enums import Channel

BLOCKED_BY_USER = "blocked_by_user"  # why an identity is unreachable: the bot answered 403


@dataclass(frozen=True, slots=True)
class Identity:
    """The customer linked to a Telegram user, and that customer's locale."""

    customer_id: int
    locale: str


@dataclass(frozen=True, slots=True)
class Prefetched:
    """The sender's identity as the inbox read it with the claim (`identity` None: the sender
    is not linked, or the update has no sender). Absent from the data when the update did not
    come through the inbox: then the middleware asks the database itself."""

    identity: Identity | None
    KEY: ClassVar[str] = "inbox_identity"  # the dispatcher's keyword that carries it

    def put(self, data: dict[str, Any]) -> None:
        """Into the keyword arguments of `Dispatcher.feed_update` (its handlers' data)."""
        data[self.KEY] = self

    @classmethod
    def get(cls, data: Mapping[str, Any]) -> Prefetched | None:
        """What the inbox put, None when it put nothing."""
        found = data.get(cls.KEY)
        return found if isinstance(found, Prefetched) else None


def user_of(update_json: dict[str, Any]) -> int | None:
    """The id of the user an update comes from (None for channel posts and the like)."""
    for key, value in update_json.items():
        if key != "update_id" and isinstance(value, dict):
            sender = value.get("from")
            if isinstance(sender, dict) and isinstance(sender.get("id"), int):
                return int(sender["id"])
            return None
    return None


async def identity_of(session: AsyncSession, telegram_user_id: int) -> Identity | None:
    """The customer linked to a Telegram user, if any."""
    stmt = (
        select(ChannelIdentity.customer_id, Customer.locale)
        .join(Customer, Customer.id == ChannelIdentity.customer_id)
        .where(
            ChannelIdentity.channel == Channel.telegram,
            ChannelIdentity.external_id == str(telegram_user_id),
        )
    )
    row = (await session.execute(stmt)).first()
    return Identity(int(row[0]), str(row[1])) if row is not None else None


async def prefetch(session: AsyncSession, update_json: dict[str, Any]) -> Prefetched:
    """The identity of an update's sender, read for the turn that processes it."""
    user_id = user_of(update_json)
    return Prefetched(await identity_of(session, user_id) if user_id is not None else None)


async def set_reachable(
    session: AsyncSession, telegram_user_id: int, reachable: bool, reason: str | None
) -> bool:
    """Mark the Telegram identity (un)reachable; False when the user is not linked."""
    result = await session.execute(
        update(ChannelIdentity)
        .where(
            ChannelIdentity.channel == Channel.telegram,
            ChannelIdentity.external_id == str(telegram_user_id),
        )
        .values(
            is_reachable=reachable,
            unreachable_reason=None if reachable else reason,
            last_seen_at=utcnow(),
        )
    )
    return bool(getattr(result, "rowcount", 0))


async def active_tariff_names(session: AsyncSession) -> list[str]:
    """For the NLU's tariff entity."""
    return list(await session.scalars(select(Tariff.name).where(Tariff.is_active)))
