"""Linking a Telegram account to a customer (docs/architecture.md, "Identity
across channels").

Two ways prove ownership: a one-time deep-link token issued to a logged-in customer, or the
customer's own shared contact whose phone is on file, confirmed by the contract number. A
Telegram account belongs to one customer at a time: linking it again moves it. Unlinking,
moving or deactivating cuts the chat's conversation off the previous customer in the same
transaction: the conversation engine does the cut (dialogs/access.py) behind the
`ConversationAccess` port below, which the callers pass in, so the core does not import the
engine (docs/architecture.md, "Layers").

Tokens are kept in Redis by their SHA-256 only, so a Redis dump does not hold usable links; a
token is consumed with GETDEL, so two concurrent `/start <token>` cannot both link.

The SQL lives here rather than in repository.py only because this module was written alongside
it; it is small and could move there unchanged."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.audit import service as audit
from backend.audit.service import Actor
from backend.clock import utcnow
from backend.models import ChannelIdentity, Customer
from backend.models.enums import Channel
from backend.redis import Redis
from backend.validation import normalize_phone

LINK_TOKEN_TTL = 600  # seconds: a one-time token lives 10 minutes
TELEGRAM_LINKED = "security.telegram_linked"
_LINK_KEY = "tg:link:{}"


class ConversationAccess(Protocol):
    """Cutting conversations off a customer, done by the conversation engine (the module
    dialogs/access.py satisfies it). The composition root hands it to the HTTP layer
    (`backend.deps.ConversationsDep`); the Telegram adapter passes it directly."""

    async def cut_chats(
        self,
        session: AsyncSession,
        channel: str,
        chat_ids: Sequence[str],
        *,
        to_customer: int | None,
        actor: Actor | None,
        reason: str,
        customer_id: int | None = None,
    ) -> list[int]: ...

    async def cut_customer(
        self, session: AsyncSession, customer_id: int, *, actor: Actor | None, reason: str
    ) -> list[int]: ...


def _token_key(token: str) -> str:
    return _LINK_KEY.format(hashlib.sha256(token.encode()).hexdigest())


async def issue_link_token(redis: Redis, customer_id: int) -> str:
    """A fresh single-use token for `t.me/<bot>?start=<token>` (32 URL-safe characters, which
    Telegram's 64-character start parameter allows)."""
    token = secrets.token_urlsafe(24)
    await redis.set(_token_key(token), str(customer_id), ex=LINK_TOKEN_TTL)
    return token


async def consume_link_token(redis: Redis, token: str) -> int | None:
    """The customer the token was issued to, once; None when unknown, used or expired."""
    if not token or len(token) > 64:
        return None
    value = await redis.getdel(_token_key(token))
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


async def telegram_identity(session: AsyncSession, telegram_user_id: int) -> ChannelIdentity | None:
    stmt = select(ChannelIdentity).where(
        ChannelIdentity.channel == Channel.telegram,
        ChannelIdentity.external_id == str(telegram_user_id),
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def link_telegram(
    session: AsyncSession,
    customer_id: int,
    telegram_user_id: int,
    actor: Actor | None,
    *,
    conversations: ConversationAccess,
) -> ChannelIdentity:
    """Link the Telegram account to the customer; an account linked elsewhere moves here. A
    new link (not one the customer already had) tells the customer on their other channels
    (`security.telegram_linked`, which nobody can turn off)."""
    identity = await telegram_identity(session, telegram_user_id)
    previous: int | None = None
    created = identity is None
    if identity is None:
        identity = ChannelIdentity(
            customer_id=customer_id,
            channel=Channel.telegram,
            external_id=str(telegram_user_id),
            is_reachable=True,
            details={},
            last_seen_at=utcnow(),
        )
        session.add(identity)
    else:
        if identity.customer_id != customer_id:
            previous = identity.customer_id
        identity.customer_id = customer_id
        identity.is_reachable = True
        identity.unreachable_reason = None
        identity.last_seen_at = utcnow()
    await session.flush()
    # the chat speaks for this customer from now on; another customer's flow in it is cut
    await conversations.cut_chats(
        session,
        Channel.telegram.value,
        [str(telegram_user_id)],
        to_customer=customer_id,
        actor=actor,
        reason="telegram.link",
    )
    entry = await audit.record(
        session,
        "telegram.link",
        actor,
        "customer",
        customer_id,
        telegram_user_id=telegram_user_id,
        moved_from=previous,
    )
    if created or previous is not None:
        await session.flush()  # the audit entry's id names the event
        await outbox.enqueue(
            session,
            TELEGRAM_LINKED,
            {
                "customer_id": customer_id,
                "at": utcnow().isoformat(),
                # the chat itself was just told "✅ contract linked": the notice goes to the
                # customer's other channels, where the owner would notice a stranger's link
                "told_in": {Channel.telegram.value: str(telegram_user_id)},
            },
            f"telegram-linked:{identity.id}:{entry.id}",
        )
    return identity


async def unlink_telegram(
    session: AsyncSession,
    customer_id: int,
    actor: Actor | None,
    telegram_user_id: int | None = None,
    *,
    conversations: ConversationAccess,
) -> int:
    """Remove the customer's Telegram link(s) - one account when `telegram_user_id` is given -
    and cut the chats of those accounts off the customer at once (every process's next turn
    there is anonymous). Returns how many were removed (0 is not an error: unlinking twice is
    harmless)."""
    removed, _ = await _unlink(session, customer_id, actor, telegram_user_id, conversations)
    return removed


async def _unlink(
    session: AsyncSession,
    customer_id: int,
    actor: Actor | None,
    telegram_user_id: int | None,
    conversations: ConversationAccess,
) -> tuple[int, list[int]]:
    """(links removed, conversations cut)"""
    stmt = delete(ChannelIdentity).where(
        ChannelIdentity.channel == Channel.telegram,
        ChannelIdentity.customer_id == customer_id,
    )
    if telegram_user_id is not None:
        stmt = stmt.where(ChannelIdentity.external_id == str(telegram_user_id))
    removed = await session.execute(stmt.returning(ChannelIdentity.external_id))
    external_ids = list(removed.scalars())
    chats = [str(telegram_user_id)] if telegram_user_id is not None else []
    cut = await conversations.cut_chats(
        session,
        Channel.telegram.value,
        sorted({*external_ids, *chats}),
        to_customer=None,
        actor=actor,
        reason="telegram.unlink",
        # all accounts: any Telegram conversation still naming the customer goes too
        customer_id=customer_id if telegram_user_id is None else None,
    )
    if external_ids:
        await audit.record(
            session,
            "telegram.unlink",
            actor,
            "customer",
            customer_id,
            telegram_user_ids=[int(x) for x in external_ids],
        )
    return len(external_ids), cut


async def cut_customer_access(
    session: AsyncSession,
    customer_id: int,
    actor: Actor | None,
    *,
    conversations: ConversationAccess,
) -> list[int]:
    """For deactivating the customer: unlink every Telegram account (the bot resolves the
    customer from the link on each update) and make every conversation of the customer, on
    every channel, anonymous. Returns the ids of the conversations cut."""
    _, cut = await _unlink(session, customer_id, actor, None, conversations)
    cut += await conversations.cut_customer(
        session, customer_id, actor=actor, reason="customer.deactivated"
    )
    return sorted(cut)


async def customers_with_phone(session: AsyncSession, phone: str) -> list[int]:
    """Ids of customers whose phone on file is `phone` (any spelling); [] for a non-phone."""
    try:
        normalized = normalize_phone(phone)
    except ValueError:
        return []
    stmt = select(Customer.id).where(Customer.phone == normalized).order_by(Customer.id)
    return list(await session.scalars(stmt))


async def find_by_phone_and_contract(
    session: AsyncSession, phone: str, contract_number: str
) -> Customer | None:
    """The customer with this phone and this contract number, if both match one."""
    try:
        normalized = normalize_phone(phone)
    except ValueError:
        return None
    number = contract_number.strip()
    if not number or len(number) > 32:
        return None
    stmt = select(Customer).where(Customer.phone == normalized, Customer.contract_number == number)
    return (await session.execute(stmt)).scalar_one_or_none()
