"""Whom a web chat socket speaks for: the customer of an access token the host page (a customer
cabinet) passes with `ProviderDesk.identify(token)` (docs/webchat-protocol.md, "Identification").

An identification belongs to one socket, never to the visitor token: whoever holds a visitor
token reads its conversation, but only a customer's own sign-in speaks for the customer. It
lasts while the access token would: until its expiry, and only while its session is not signed
out (the revocation list). The expiry matters because the list keeps a signed-out session only
for the access-token lifetime, so a check of the list alone would trust a long-open socket again
once the entry has lapsed. The host page refreshes its token and identifies again to carry on.

Taking and dropping a conversation is the engine's cut (dialogs/access.py): a conversation that
spoke for another customer loses that customer's flow state and language, with an audit row."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import jwt

from backend.audit.service import Actor
from backend.auth.tokens import decode_token
from backend.customers import repository as customers
from backend.db import unit_of_work
from backend.errors import InvalidToken
from backend.models import Role
from backend.models.enums import Channel
from backend.state import Resources
from backend.webchat.errors import InvalidCustomerToken, NotACustomerToken
from dialogs import access

IDENTIFY = "webchat.identify"
# Why an identification ended: a `logout` frame, or by itself (the `reason` of `logged_out`; the
# cut's audit reason is `webchat.<it>`).
Ending = Literal["logout", "expired", "revoked"]


@dataclass(frozen=True, slots=True)
class Identity:
    customer_id: int
    user_id: int
    sid: str
    expires_at: float  # the access token's `exp`, Unix time

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.user_id, role=Role.customer)


async def _verify(resources: Resources, access_token: str) -> Identity:
    """The customer an access token speaks for, checked as the API checks a bearer token."""
    try:
        principal = decode_token(resources.settings, access_token, "access")
    except InvalidToken:
        raise InvalidCustomerToken() from None
    if await resources.revocations.is_denied(principal.sid, principal.user_id):
        raise InvalidCustomerToken()
    if principal.role is not Role.customer or principal.customer_id is None:
        raise NotACustomerToken()
    # decode_token has verified the token; its expiry is read from the verified claims.
    claims = jwt.decode(access_token, options={"verify_signature": False})
    return Identity(
        customer_id=principal.customer_id,
        user_id=principal.user_id,
        sid=principal.sid,
        expires_at=float(claims["exp"]),
    )


async def identify(resources: Resources, chat_id: str, access_token: str) -> tuple[Identity, str]:
    """Verify the token and give the chat's conversation (if there is one yet) to its customer;
    the identity and the customer's name. Refused tokens change nothing."""
    identity = await _verify(resources, access_token)
    async with unit_of_work(resources.sessionmaker) as session:
        customer = await customers.customer_by_id(session, identity.customer_id)
        if customer is None or customer.user_id != identity.user_id:
            raise NotACustomerToken()  # the account no longer holds that contract
        await access.cut_chats(
            session,
            Channel.webchat.value,
            [chat_id],
            to_customer=identity.customer_id,
            actor=identity.actor,
            reason=IDENTIFY,
        )
        name = customer.full_name
    return identity, name


async def lapsed(resources: Resources, identity: Identity) -> Ending | None:
    """Has the identification ended by itself? Checked before each turn that would use it."""
    if time.time() >= identity.expires_at:
        return "expired"
    if await resources.revocations.is_denied(identity.sid, identity.user_id):
        return "revoked"
    return None


async def forget(resources: Resources, chat_id: str, identity: Identity, why: Ending) -> None:
    """The chat's conversation speaks for nobody again."""
    async with unit_of_work(resources.sessionmaker) as session:
        await access.cut_chats(
            session,
            Channel.webchat.value,
            [chat_id],
            to_customer=None,
            actor=identity.actor,
            reason=f"webchat.{why}",
        )
