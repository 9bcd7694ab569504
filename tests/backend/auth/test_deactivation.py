"""Deactivating a user ends their access at once, in every process; reactivating lets them
sign in again while the old tokens stay dead (docs/security.md, "Deactivation")."""

from __future__ import annotations

import asyncio

import jwt
from sqlalchemy import select

from backend.auth.revocations import CHANNEL
from backend.models import AuditEntry, Role, User
from backend.state import Resources
from tests.factories import (
    DEFAULT_PASSWORD,
    access_token_for,
    auth_header,
    make_customer,
    make_user,
)

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"


def deactivate_url(user_id: int | str) -> str:
    return f"/api/v1/admin/users/{user_id}/deactivate"


def reactivate_url(user_id: int | str) -> str:
    return f"/api/v1/admin/users/{user_id}/reactivate"


async def sign_in(client, login: str) -> dict[str, str]:
    r = await client.post(LOGIN, json={"login": login, "password": DEFAULT_PASSWORD})
    assert r.status_code == 200, r.text
    tokens: dict[str, str] = r.json()["tokens"]
    return tokens


async def test_deactivation_ends_access_and_refresh_at_once_and_reactivation_allows_sign_in(
    client, session, as_staff
):
    user, customer = await make_customer(session, email="ivan@example.com")
    await session.commit()
    first = await sign_in(client, "ivan@example.com")
    second = await sign_in(client, "ivan@example.com")
    assert (await client.get(ME, headers=auth_header(first["access_token"]))).status_code == 200
    admin, admin_headers = await as_staff(Role.admin)

    r = await client.post(deactivate_url(user.id), headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False and r.json()["id"] == user.id

    for tokens in (first, second):
        me = await client.get(ME, headers=auth_header(tokens["access_token"]))
        assert me.status_code == 401 and me.json()["error"] == "invalid_token"
        balance = await client.get(
            "/api/v1/billing/balance", headers=auth_header(tokens["access_token"])
        )
        assert balance.status_code == 401
        refreshed = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 401
    login = await client.post(
        LOGIN, json={"login": "ivan@example.com", "password": DEFAULT_PASSWORD}
    )
    assert login.status_code == 401
    # deactivating again changes nothing and is not an error
    assert (await client.post(deactivate_url(user.id), headers=admin_headers)).status_code == 200

    r = await client.post(reactivate_url(user.id), headers=admin_headers)
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is True
    # the old tokens stay dead; a new sign-in works
    assert (await client.get(ME, headers=auth_header(first["access_token"]))).status_code == 401
    assert (
        await client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    ).status_code == 401
    fresh = await sign_in(client, "ivan@example.com")
    me = await client.get(ME, headers=auth_header(fresh["access_token"]))
    assert me.status_code == 200 and me.json()["customer_id"] == customer.id

    entries = (
        await session.scalars(
            select(AuditEntry).where(
                AuditEntry.action.in_(["user.deactivated", "user.reactivated"])
            )
        )
    ).all()
    assert [(e.action, e.actor_user_id, e.object_id) for e in entries] == [
        ("user.deactivated", admin.id, str(user.id)),
        ("user.reactivated", admin.id, str(user.id)),
    ]
    assert (await session.get(User, user.id, populate_existing=True)).is_active is True


async def test_deactivation_refuses_tokens_of_sessions_it_did_not_see(
    client, session, resources, settings, as_staff
):
    """A token whose session is not in the database yet (a sign-in racing the deactivation) is
    refused too, here and in another process with its own in-memory mirror; reactivation lifts
    the block for new sessions."""
    agent = await make_user(session, role=Role.agent)
    await session.commit()
    racing = access_token_for(settings, agent)
    _, admin_headers = await as_staff(Role.admin)
    other = Resources.create(resources.settings)
    try:
        sid = jwt.decode(racing, options={"verify_signature": False})["sid"]
        assert await other.revocations.is_denied(sid, agent.id) is False  # starts the mirror
        for _ in range(50):
            if other.revocations.synced:
                break
            await asyncio.sleep(0.05)
        assert other.revocations.synced
        r = await client.post(deactivate_url(agent.id), headers=admin_headers)
        assert r.status_code == 200, r.text
        r = await client.get("/api/v1/customers", headers=auth_header(racing))
        assert r.status_code == 401 and r.json()["error"] == "invalid_token"
        for _ in range(50):
            if await other.revocations.is_denied(sid, agent.id):
                break
            await asyncio.sleep(0.05)
        assert await other.revocations.is_denied(sid, agent.id)
        # a process that starts later loads the block
        late = Resources.create(resources.settings)
        try:
            assert await late.revocations.is_denied("any-session", agent.id)  # asks Redis
            for _ in range(50):
                if late.revocations.synced:
                    break
                await asyncio.sleep(0.05)
            assert late.revocations.synced
            assert await late.revocations.is_denied("any-session", agent.id)  # from memory
        finally:
            await late.close()

        assert (
            await client.post(reactivate_url(agent.id), headers=admin_headers)
        ).status_code == 200
        new_sid = "after-reactivation"
        for _ in range(50):
            if not await other.revocations.is_denied(new_sid, agent.id):
                break
            await asyncio.sleep(0.05)
        assert not await other.revocations.is_denied(new_sid, agent.id)
        # a late (stale) block announcement does not undo the lift: a process's own block and
        # lift announcements arrive after its local changes, and may trail a quick reactivation
        await other.redis.publish(CHANNEL, f"600 user:{agent.id}")
        await other.redis.publish(CHANNEL, "600 sentinel")  # announced after it
        for _ in range(50):
            if "sentinel" in other.revocations._expiry:
                break
            await asyncio.sleep(0.05)
        assert "sentinel" in other.revocations._expiry
        assert not await other.revocations.is_denied(new_sid, agent.id)
        fresh = access_token_for(settings, agent, sid=new_sid)
        assert (
            await client.get("/api/v1/customers", headers=auth_header(fresh))
        ).status_code == 200
    finally:
        await other.close()


async def test_only_admins_may_deactivate_or_reactivate(client, session, as_staff, as_customer):
    target = await make_user(session, role=Role.agent)
    await session.commit()
    _, agent_headers = await as_staff(Role.agent)
    _, admin_without_2fa = await as_staff(Role.admin, mfa=False)
    _, customer_headers = await as_customer()
    for url in (deactivate_url(target.id), reactivate_url(target.id)):
        assert (await client.post(url)).status_code == 401
        r = await client.post(url, headers=agent_headers)
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
        r = await client.post(url, headers=customer_headers)
        assert r.status_code == 403
        r = await client.post(url, headers=admin_without_2fa)
        assert r.status_code == 403 and r.json()["error"] == "mfa_required"
    await session.refresh(target)
    assert target.is_active is True


async def test_bad_targets_get_clear_errors(client, session, as_staff):
    admin, admin_headers = await as_staff(Role.admin)
    r = await client.post(deactivate_url(admin.id), headers=admin_headers)
    assert r.status_code == 409 and r.json()["error"] == "cannot_deactivate_self"
    for url in (deactivate_url(999999), reactivate_url(999999)):
        r = await client.post(url, headers=admin_headers)
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    for bad in ("abc", "-1", "0", "99999999999999999999999"):
        r = await client.post(deactivate_url(bad), headers=admin_headers)
        assert r.status_code in (404, 422), (bad, r.status_code)
        assert "error" in r.json()
    assert (await session.get(User, admin.id, populate_existing=True)).is_active is True


async def test_the_last_active_admin_cannot_be_deactivated(client, session, settings):
    """The caller's own row may already be inactive (its block lost with Redis): then the target
    is the last active admin, and the answer is 409 rather than a system without admins."""
    caller = await make_user(session, role=Role.admin, is_active=False)
    last = await make_user(session, role=Role.admin)
    await session.commit()
    headers = auth_header(access_token_for(settings, caller))
    r = await client.post(deactivate_url(last.id), headers=headers)
    assert r.status_code == 409 and r.json()["error"] == "last_active_admin"
    assert (await session.get(User, last.id, populate_existing=True)).is_active is True
    # with another active admin, the same request succeeds
    await make_user(session, role=Role.admin)
    await session.commit()
    r = await client.post(deactivate_url(last.id), headers=headers)
    assert r.status_code == 200, r.text


async def test_deactivating_a_customer_cuts_their_chats(client, session, as_staff):
    """The bot and the widget speak for the customer too: deactivation unlinks Telegram and
    makes every conversation of theirs anonymous in the same transaction."""
    from backend.models import ChannelIdentity, Conversation, ConversationState
    from backend.models.enums import Channel

    user, customer = await make_customer(session, email="petr@example.com")
    session.add(
        ChannelIdentity(customer_id=customer.id, channel=Channel.telegram, external_id="4242")
    )
    session.add(
        Conversation(
            channel="telegram",
            chat_id="4242",
            customer_id=customer.id,
            state=ConversationState.bot,
            flow={},
        )
    )
    await session.commit()
    user_id, customer_id = user.id, customer.id
    _, admin_headers = await as_staff(Role.admin)
    r = await client.post(deactivate_url(user_id), headers=admin_headers)
    assert r.status_code == 200, r.text
    session.expire_all()
    assert (
        await session.scalar(
            select(ChannelIdentity).where(ChannelIdentity.customer_id == customer_id)
        )
        is None
    )
    conv = await session.scalar(select(Conversation).where(Conversation.chat_id == "4242"))
    assert conv is not None and conv.customer_id is None
