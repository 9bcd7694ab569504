from tests.factories import DEFAULT_PASSWORD, make_customer


async def test_login_smoke(client, session):
    await make_customer(session, email="a@example.com")
    await session.commit()
    r = await client.post(
        "/api/v1/auth/login", json={"login": "a@example.com", "password": DEFAULT_PASSWORD}
    )
    assert r.status_code == 200, r.text
    assert r.json()["tokens"]["access_token"]
