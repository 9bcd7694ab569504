"""`identify` and `logout` on /ws/chat (docs/webchat-protocol.md, "Identification"): a customer
access token from the host page makes the socket's turns speak for that customer; staff tokens,
bad, expired or signed-out tokens are refused and change nothing; the identification ends with
`logout`, with the token's expiry or sign-out, and with the socket (a reconnect identifies
again); another visitor is never affected."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from backend.auth.tokens import encode_token
from backend.i18n import t
from backend.models import AuditEntry, Conversation, Role
from dialogs.access import DETACHED
from tests.backend.webchat.conftest import quiet, recv, recv_until, send, turn_done
from tests.factories import access_token_for, auth_header, make_customer, make_user

SIGN_IN = t("dialogs-identify-webchat", "en")
BALANCE = t("dialogs-balance", "en", amount=350)


async def _customer(session, settings, balance: int = 35000, **token: Any):
    """A customer with a sign-in (committed) and an access token of it."""
    user, customer = await make_customer(session, balance=balance)
    await session.commit()
    assert user is not None
    return user, customer, access_token_for(settings, user, customer_id=customer.id, **token)


async def _ask_balance(ws, client_msg_id: str) -> tuple[list[dict], str]:
    """Send "what is my balance": every frame up to the bot's answer, and that answer."""
    await send(ws, {"type": "message", "client_msg_id": client_msg_id,
                    "text": "what is my balance"})  # fmt: skip
    frames = await recv_until(ws, turn_done)
    bot = next(f for f in frames if f["type"] == "message" and f["from"] == "bot")
    return frames, bot["text"]


async def _identify(ws, token: str) -> dict:
    """Consent (asked before any identification; a repeat is answered all the same), then
    identify: the answer to the identify frame."""
    await send(ws, {"type": "consent"})
    assert await recv(ws) == {"type": "consented"}
    await send(ws, {"type": "identify", "access_token": token})
    return await recv(ws)


async def _conversation(server) -> Conversation:
    async with server.resources.sessionmaker() as s:
        conversation: Conversation = (await s.scalars(select(Conversation))).one()
    return conversation


async def _detached(server) -> list[AuditEntry]:
    async with server.resources.sessionmaker() as s:
        query = select(AuditEntry).where(AuditEntry.action == DETACHED).order_by(AuditEntry.id)
        return list(await s.scalars(query))


# --- identified ------------------------------------------------------------------------------


async def test_an_identified_visitor_gets_the_balance(chat_server, session):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        _, customer, token = await _customer(session, server.resources.settings)
        assert await _identify(ws, token) == {"type": "identified", "name": customer.full_name}
        _, answer = await _ask_balance(ws, "b1")
        assert answer == BALANCE
        assert (await _conversation(server)).customer_id == customer.id
        # taking an anonymous conversation drops nobody's state: no cut to audit
        assert await _detached(server) == []


async def test_identify_before_a_conversation_exists_and_after(chat_server, session):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        _, answer = await _ask_balance(ws, "a1")
        assert answer == SIGN_IN
        _, customer, token = await _customer(session, server.resources.settings)
        assert (await _identify(ws, token))["type"] == "identified"
        assert (await _conversation(server)).customer_id == customer.id
        _, answer = await _ask_balance(ws, "a2")
        assert answer == BALANCE


async def test_another_customer_takes_the_conversation_with_an_audit_row(chat_server, session):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        settings = server.resources.settings
        _, first, first_token = await _customer(session, settings)
        second_user, second, second_token = await _customer(session, settings, balance=100)
        await _identify(ws, first_token)
        await _ask_balance(ws, "c1")
        assert await _identify(ws, second_token) == {"type": "identified", "name": second.full_name}
        _, answer = await _ask_balance(ws, "c2")
        assert answer == t("dialogs-balance", "en", amount=1)
        [row] = await _detached(server)
        assert row.actor_user_id == second_user.id
        assert row.details["reason"] == "webchat.identify"
        assert row.details["customer_id"] == first.id
        assert row.details["to_customer_id"] == second.id


# --- refused ---------------------------------------------------------------------------------


def _expired(settings, user, customer_id: int) -> str:
    return encode_token(settings, typ="access", user_id=user.id, role=Role.customer,
                        customer_id=customer_id, sid="expired-1", amr=("pwd",),
                        lifetime=timedelta(minutes=-5))  # fmt: skip


@pytest.mark.parametrize("case", ["garbage", "expired", "mfa-pending"])
async def test_a_bad_token_is_refused(chat_server, session, case):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        settings = server.resources.settings
        user, customer, _ = await _customer(session, settings)
        token = {
            "garbage": "not-a-token",
            "expired": _expired(settings, user, customer.id),
            "mfa-pending": encode_token(settings, typ="mfa", user_id=user.id,
                                        role=Role.customer, customer_id=customer.id,
                                        sid="mfa-1", amr=("pwd",),
                                        lifetime=timedelta(minutes=5)),
        }[case]  # fmt: skip
        frame = await _identify(ws, token)
        assert frame == {
            "type": "error",
            "code": "identify_token_invalid",
            "detail": t("error-identify-token-invalid", "en"),
        }
        _, answer = await _ask_balance(ws, "x1")
        assert answer == SIGN_IN
        assert (await _conversation(server)).customer_id is None


@pytest.mark.parametrize("who", ["agent", "admin", "customer-without-contract", "not-theirs"])
async def test_a_token_that_speaks_for_no_customer_is_refused(chat_server, session, who):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        settings = server.resources.settings
        if who == "not-theirs":  # a customer account naming a contract that is not its own
            user, _, _ = await _customer(session, settings)
            _, other, _ = await _customer(session, settings)
            token = access_token_for(settings, user, customer_id=other.id)
        else:
            role = Role.customer if who.startswith("customer") else Role(who)
            user = await make_user(session, role=role)
            await session.commit()
            token = access_token_for(settings, user)
        frame = await _identify(ws, token)
        assert frame["type"] == "error" and frame["code"] == "identify_not_customer"
        assert frame["detail"] == t("error-identify-not-customer", "en")
        _, answer = await _ask_balance(ws, "s1")
        assert answer == SIGN_IN


async def test_a_signed_out_session_is_refused(chat_server, session):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        _, _, token = await _customer(session, server.resources.settings)
        response = await server.http.post("/api/v1/auth/logout", headers=auth_header(token))
        assert response.status_code == 204
        frame = await _identify(ws, token)
        assert frame["code"] == "identify_token_invalid"
        _, answer = await _ask_balance(ws, "r1")
        assert answer == SIGN_IN


async def test_a_refused_token_leaves_an_identification_as_it_was(chat_server, session):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        _, _, token = await _customer(session, server.resources.settings)
        await _identify(ws, token)
        assert (await _identify(ws, "not-a-token"))["type"] == "error"
        _, answer = await _ask_balance(ws, "k1")
        assert answer == BALANCE


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "identify"},
        {"type": "identify", "access_token": ""},
        {"type": "identify", "access_token": "x", "customer_id": 1},
        {"type": "logout", "all": True},
    ],
)
async def test_a_malformed_identify_is_a_bad_frame(chat_server, frame):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        await send(ws, frame)
        assert (await recv(ws))["code"] == "bad_frame"


# --- ended -----------------------------------------------------------------------------------


async def test_logout_makes_the_conversation_anonymous(chat_server, session):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        user, customer, token = await _customer(session, server.resources.settings)
        await _identify(ws, token)
        await _ask_balance(ws, "o1")
        await send(ws, {"type": "logout"})
        assert await recv(ws) == {"type": "logged_out", "reason": "logout"}
        assert (await _conversation(server)).customer_id is None
        _, answer = await _ask_balance(ws, "o2")
        assert answer == SIGN_IN
        [row] = await _detached(server)
        assert row.actor_user_id == user.id
        assert row.object_id == str((await _conversation(server)).id)
        assert row.details["reason"] == "webchat.logout"
        assert row.details["customer_id"] == customer.id
        assert row.details["to_customer_id"] is None
        # an anonymous socket's logout is answered and changes nothing
        await send(ws, {"type": "logout"})
        assert await recv(ws) == {"type": "logged_out", "reason": "logout"}
        assert len(await _detached(server)) == 1


async def test_signing_out_in_the_cabinet_ends_the_identification(chat_server, session):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        _, _, token = await _customer(session, server.resources.settings)
        await _identify(ws, token)
        await _ask_balance(ws, "v1")
        response = await server.http.post("/api/v1/auth/logout", headers=auth_header(token))
        assert response.status_code == 204
        frames, answer = await _ask_balance(ws, "v2")
        assert {"type": "logged_out", "reason": "revoked"} in frames
        assert answer == SIGN_IN
        [row] = await _detached(server)
        assert row.details["reason"] == "webchat.revoked"


async def test_the_identification_ends_with_the_tokens_expiry(chat_server, session):
    async with chat_server() as server, server.chat(locale="en") as (ws, _, _ready):
        settings = server.resources.settings
        user, customer, _ = await _customer(session, settings)
        token = encode_token(settings, typ="access", user_id=user.id, role=Role.customer,
                             customer_id=customer.id, sid="short-1", amr=("pwd",),
                             lifetime=timedelta(seconds=2))  # fmt: skip
        assert (await _identify(ws, token))["type"] == "identified"
        await asyncio.sleep(2.2)
        frames, answer = await _ask_balance(ws, "e1")
        assert {"type": "logged_out", "reason": "expired"} in frames
        assert answer == SIGN_IN
        # a fresh token from the host page carries on
        fresh = access_token_for(settings, user, customer_id=customer.id)
        assert (await _identify(ws, fresh))["type"] == "identified"
        _, answer = await _ask_balance(ws, "e2")
        assert answer == BALANCE


async def test_a_reconnect_must_identify_again(chat_server, session):
    async with chat_server() as server:
        _, customer, token = await _customer(session, server.resources.settings)
        async with server.chat(locale="en") as (ws, started, _ready):
            await _identify(ws, token)
            _, answer = await _ask_balance(ws, "n1")
            assert answer == BALANCE
        async with server.chat(started["visitor_token"], locale="en") as (ws, _, _ready):
            _, answer = await _ask_balance(ws, "n2")
            assert answer == SIGN_IN
            assert (await _identify(ws, token))["type"] == "identified"
            _, answer = await _ask_balance(ws, "n3")
            assert answer == BALANCE
        assert (await _conversation(server)).customer_id == customer.id


async def test_another_visitor_is_not_affected(chat_server, session):
    async with chat_server() as server:
        _, _, token = await _customer(session, server.resources.settings)
        async with (
            server.chat(locale="en") as (mine, _, _r),
            server.chat(locale="en") as (
                theirs,
                _,
                _r2,
            ),
        ):
            await _identify(mine, token)
            _, answer = await _ask_balance(theirs, "t1")
            assert answer == SIGN_IN
            _, answer = await _ask_balance(mine, "m1")
            assert answer == BALANCE
            await send(mine, {"type": "logout"})
            await recv(mine)
            assert await quiet(theirs) == []
