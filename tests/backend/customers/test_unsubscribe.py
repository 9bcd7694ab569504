"""The unsubscribe link of marketing e-mail, through the HTTP API: a GET shows a page and
changes nothing (mail scanners open links), a POST with a good token turns marketing off
(the page's button and RFC 8058's one-click POST), a bad link is a 400 and changes nothing."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from backend.customers.unsubscribe import (
    UNSUBSCRIBE_PATH,
    token_matches,
    unsubscribe_token,
    unsubscribe_url,
)
from backend.models import AuditEntry, Customer
from tests.conftest import make_settings
from tests.factories import make_customer

PAGE = "/api/v1/unsubscribe"


async def _subscribed(session) -> int:
    """A committed customer with marketing on; its id."""
    _, customer = await make_customer(session, with_user=False)
    customer_id = customer.id
    customer.notification_preferences = {
        "billing": False,  # the other switches are the customer's and stay as they are
        "outages": True,
        "tickets": True,
        "marketing": True,
    }
    await session.commit()
    return customer_id


async def _prefs(session, customer_id: int) -> dict[str, bool]:
    session.expire_all()
    await session.rollback()
    fresh = await session.get(Customer, customer_id)
    return dict(fresh.notification_preferences)


async def _unsubscribed_audit(session) -> list[AuditEntry]:
    session.expire_all()
    await session.rollback()
    query = select(AuditEntry).where(AuditEntry.action == "customer.unsubscribed")
    return list((await session.scalars(query)).all())


def _link(settings, customer_id: int) -> dict[str, str]:
    return {"c": str(customer_id), "t": unsubscribe_token(settings, customer_id)}


def test_the_link_is_signed_for_its_customer_and_the_key():
    settings = make_settings(public_url="https://desk.example/")
    url = unsubscribe_url(settings, 42, "en")
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "desk.example", UNSUBSCRIBE_PATH)
    query = parse_qs(parts.query)
    assert query["c"] == ["42"] and query["lang"] == ["en"]
    token = query["t"][0]
    assert token_matches(settings, 42, token)
    assert not token_matches(settings, 43, token)
    assert not token_matches(make_settings(secret_key="another-key-" + "x" * 32), 42, token)
    assert not token_matches(settings, 42, token[:-1])
    assert not token_matches(settings, 42, "т" * 43)  # not even ASCII: refused, not an error


async def test_get_shows_a_confirmation_and_changes_nothing(client, session, settings):
    customer_id = await _subscribed(session)
    link = _link(settings, customer_id)

    r = await client.get(PAGE, params=link)

    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"
    html = r.text
    assert f'<form method="post" action="{UNSUBSCRIBE_PATH}">' in html
    assert f'name="c" value="{customer_id}"' in html
    assert f'name="t" value="{link["t"]}"' in html
    assert "Отписаться" in html
    assert (await _prefs(session, customer_id))["marketing"] is True
    assert await _unsubscribed_audit(session) == []


async def test_the_button_turns_marketing_off(client, session, settings):
    customer_id = await _subscribed(session)

    r = await client.post(PAGE, data={**_link(settings, customer_id), "lang": "ru"})

    assert r.status_code == 200, r.text
    assert "новости и предложения больше не придут" in r.text
    assert await _prefs(session, customer_id) == {
        "billing": False,
        "outages": True,
        "tickets": True,
        "marketing": False,
    }
    [entry] = await _unsubscribed_audit(session)
    assert entry.object_type == "customer" and entry.object_id == str(customer_id)
    assert entry.ip == "203.0.113.7"


async def test_the_one_click_post_of_rfc_8058_turns_marketing_off(client, session, settings):
    customer_id = await _subscribed(session)
    url = urlsplit(unsubscribe_url(settings, customer_id, "en"))

    # what a mail client sends: a POST to the List-Unsubscribe URL with this body
    r = await client.post(
        f"{url.path}?{url.query}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert r.status_code == 200, r.text
    assert "no more news and offers" in r.text
    assert (await _prefs(session, customer_id))["marketing"] is False
    # clicked again (or the page's button after the mail client's POST): same answer, one entry
    again = await client.post(f"{url.path}?{url.query}", data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200
    assert len(await _unsubscribed_audit(session)) == 1


async def test_a_bad_link_is_400_and_changes_nothing(client, session, settings):
    customer_id = await _subscribed(session)
    other_id = await _subscribed(session)
    good = _link(settings, customer_id)
    bad_links = [
        {"c": str(customer_id), "t": good["t"][:-1] + ("A" if good["t"][-1] != "A" else "B")},
        {"c": str(other_id), "t": good["t"]},  # another customer's token
        {"c": str(customer_id)},
        {"t": good["t"]},
        {},
        {"c": "abc", "t": good["t"]},
        {"c": "-1", "t": good["t"]},
        {"c": "0", "t": good["t"]},
        {"c": "9" * 40, "t": good["t"]},
        {"c": "٣", "t": good["t"]},  # a digit, but not an ASCII one
        {"c": str(customer_id), "t": "x" * 5000},
    ]
    for link in bad_links:
        page = await client.get(PAGE, params=link)
        assert page.status_code == 400, link
        assert "Ссылка для отписки повреждена" in page.text
        posted = await client.post(PAGE, data=link)
        assert posted.status_code == 400, link
        in_query = await client.post(PAGE, params=link)
        assert in_query.status_code == 400, link
    assert (await _prefs(session, customer_id))["marketing"] is True
    assert (await _prefs(session, other_id))["marketing"] is True
    assert await _unsubscribed_audit(session) == []


async def test_a_client_asking_for_json_gets_json(client, session, settings):
    customer_id = await _subscribed(session)
    headers = {"accept": "application/json"}

    bad = await client.post(PAGE, data={"c": str(customer_id), "t": "nope"}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["error"] == "invalid_unsubscribe_link"

    good = await client.post(PAGE, data=_link(settings, customer_id), headers=headers)
    assert good.status_code == 200
    assert good.json() == {"unsubscribed": True}


async def test_a_malformed_body_is_a_400_not_a_500(client, session, settings):
    customer_id = await _subscribed(session)

    r = await client.post(
        PAGE,
        content=b"--x\r\nContent-Disposition: form-data; broken",
        headers={"content-type": "multipart/form-data; boundary=x"},
    )

    assert r.status_code == 400
    assert (await _prefs(session, customer_id))["marketing"] is True


async def test_a_customer_who_no_longer_exists_gets_the_same_page(client, session, settings):
    r = await client.post(PAGE, data=_link(settings, 987654))
    assert r.status_code == 200
    assert await _unsubscribed_audit(session) == []
