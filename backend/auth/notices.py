"""Security notices to a customer about their own account, queued in the outbox in the
transaction of their cause: a sign-in from a new device (`security.new_sign_in`) and a password
changed or reset (`security.password_changed`). The customer cannot turn them off (they are
how the owner learns that someone else is in the account; notifications/events.py, SECURITY).
Staff get none: they are not customers, and their sign-ins are in the audit log.

"A new device" is kept simple and needs no table of its own: a password sign-in is announced
when no earlier session of the account (its refresh tokens, which keep the address and the
user agent of every sign-in and refresh) came from the same user agent on the same network
(the address's /24, or /48 for IPv6: a home router's address changes within it). The very first
session of an account is not announced: there is no known device to differ from, and it is
the customer's own registration or first sign-in.

The notice says when and from what, coarsely ("Chrome, Windows", "203.0.113.*"), never the
whole address: the text travels through e-mail, SMS and push providers."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from backend import outbox
from backend.auth import repository
from backend.context import current_request
from backend.models import AuditEntry, Role, User

NEW_SIGN_IN = "security.new_sign_in"
PASSWORD_CHANGED = "security.password_changed"  # noqa: S105 - an event kind

# (pattern, name), the first match wins: Edge, Opera and Yandex also say "Chrome", and Chrome
# also says "Safari".
_BROWSERS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"YaBrowser/", "Yandex Browser"),
        (r"Edg(e|A|iOS)?/", "Edge"),
        (r"OPR/|Opera", "Opera"),
        (r"SamsungBrowser/", "Samsung Internet"),
        (r"Firefox/|FxiOS/", "Firefox"),
        (r"Chrome/|CriOS/", "Chrome"),
        (r"Safari/", "Safari"),
    )
)
_SYSTEMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"iPhone|iPad|iPod", "iOS"),
        (r"Android", "Android"),
        (r"Windows", "Windows"),
        (r"CrOS", "ChromeOS"),
        (r"Mac OS X|Macintosh", "macOS"),
        (r"Linux", "Linux"),
    )
)


def describe_device(user_agent: str | None) -> str | None:
    """ "Chrome, Windows" from a browser's user agent; what is not recognised is left out
    (None when nothing is). Coarse on purpose: enough for the owner to recognise their own
    device, nothing that identifies it."""
    if not user_agent:
        return None
    found = [
        next((name for pattern, name in table if pattern.search(user_agent)), None)
        for table in (_BROWSERS, _SYSTEMS)
    ]
    parts = [name for name in found if name]
    return ", ".join(parts) or None


def network_of(ip: str | None) -> str | None:
    """The address with its host part hidden: "203.0.113.*" (the /24), "2001:db8:85a3:*" (the
    /48); None for no address or something that is not one."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return ".".join(str(address).split(".")[:3]) + ".*"
    groups = address.exploded.split(":")[:3]
    return ":".join(format(int(g, 16), "x") for g in groups) + ":*"


def _same_network(a: str | None, b: str | None) -> bool:
    return network_of(a) == network_of(b)


async def is_new_device(
    session: AsyncSession, user_id: int, ip: str | None, ua: str | None
) -> bool:
    """No earlier session of the account came from this user agent on this network. False
    for an account without any session yet (see the module's docstring)."""
    if not await repository.has_sessions(session, user_id):
        return False
    seen = await repository.session_addresses(session, user_id, (ua or "")[:255] or None)
    return not any(_same_network(ip, known) for known in seen)


async def _customer_of(session: AsyncSession, user: User) -> int | None:
    if user.role is not Role.customer:
        return None
    return await repository.customer_id_for_user(session, user.id)


async def sign_in(session: AsyncSession, user: User, audited: AuditEntry, now: datetime) -> bool:
    """Queue `security.new_sign_in` when this password sign-in (the request in progress, audited
    as `audited`) comes from a new device. Call it before the session's refresh token is
    added, or the sign-in would count as its own earlier session. Returns whether one was
    queued."""
    customer_id = await _customer_of(session, user)
    if customer_id is None:
        return False
    ctx = current_request()
    if not await is_new_device(session, user.id, ctx.ip, ctx.user_agent):
        return False
    await session.flush()  # the audit entry's id names the event
    return await outbox.enqueue(
        session,
        NEW_SIGN_IN,
        {
            "customer_id": customer_id,
            "at": now.isoformat(),
            "device": describe_device(ctx.user_agent),
            "network": network_of(ctx.ip),
        },
        f"sign-in:{user.id}:{audited.id}",
    )


async def password_changed(
    session: AsyncSession, user: User, how: str, audited: AuditEntry, now: datetime
) -> bool:
    """Queue `security.password_changed` (`how`: "changed" by the customer, "reset" with a
    recovery code). Returns whether one was queued."""
    customer_id = await _customer_of(session, user)
    if customer_id is None:
        return False
    await session.flush()
    return await outbox.enqueue(
        session,
        PASSWORD_CHANGED,
        {"customer_id": customer_id, "at": now.isoformat(), "how": how},
        f"password-changed:{user.id}:{audited.id}",
    )
