"""POST /api/v1/webchat/session: the visitor and session tokens (docs/webchat-protocol.md)."""

from __future__ import annotations

import jwt

from backend.webchat import session as webchat_session


async def test_a_new_visitor_gets_both_tokens(client, settings):
    response = await client.post("/api/v1/webchat/session")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"session_token", "visitor_token", "expires_in"}
    assert data["expires_in"] == settings.webchat_session_seconds
    chat_id = webchat_session.chat_id_from(settings, data["session_token"])
    assert chat_id == webchat_session.chat_id_of(data["visitor_token"])
    # the token does not carry the visitor's secret
    claims = jwt.decode(data["session_token"], options={"verify_signature": False})
    assert data["visitor_token"] not in str(claims)


async def test_a_returning_visitor_keeps_the_conversation(client, settings):
    first = (await client.post("/api/v1/webchat/session")).json()
    again = await client.post(
        "/api/v1/webchat/session", json={"visitor_token": first["visitor_token"]}
    )
    assert again.status_code == 200
    assert again.json()["visitor_token"] == first["visitor_token"]
    assert webchat_session.chat_id_from(settings, again.json()["session_token"]) == (
        webchat_session.chat_id_from(settings, first["session_token"])
    )


async def test_a_guessable_visitor_token_is_refused(client):
    response = await client.post("/api/v1/webchat/session", json={"visitor_token": "abc"})
    assert response.status_code == 422


async def test_an_access_token_is_not_a_session_token(settings):
    from datetime import timedelta

    from backend.auth.tokens import encode_token
    from backend.models import Role

    access = encode_token(settings, typ="access", user_id=1, role=Role.customer, customer_id=1,
                          sid="s", amr=("pwd",), lifetime=timedelta(minutes=5))  # fmt: skip
    assert webchat_session.chat_id_from(settings, access) is None


async def test_an_expired_session_token_is_refused(settings):
    expired = settings.model_copy(update={"webchat_session_seconds": -1})
    token = webchat_session.start(expired, None).session_token
    assert webchat_session.chat_id_from(settings, token) is None


async def test_sessions_are_rate_limited_per_address(client, settings):
    for _ in range(settings.webchat_sessions_per_ip_minute):
        assert (await client.post("/api/v1/webchat/session")).status_code == 200
    refused = await client.post("/api/v1/webchat/session")
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
