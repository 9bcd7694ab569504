"""The staff ticket queue's filters the agent console adds: text search (subject, description,
ticket number) and unassigned tickets."""

from __future__ import annotations

from backend.models import TicketStatus
from tests.factories import make_ticket

API = "/api/v1"


async def test_text_search_and_unassigned(client, session, as_customer, as_staff):
    a, _ = await as_customer()
    agent, staff = await as_staff()
    router = await make_ticket(session, a, subject="Router reboots", description="at night")
    fibre = await make_ticket(
        session, a, subject="Slow", description="The FIBRE_50% plan is slow", assignee_id=agent.id
    )
    closed = await make_ticket(
        session, a, subject="Old router", description="-", status=TicketStatus.closed
    )
    await session.commit()

    async def ids(**params):
        r = await client.get(f"{API}/agent/tickets", params=params, headers=staff)
        assert r.status_code == 200, r.text
        return {t["id"] for t in r.json()["items"]}

    assert await ids(q="ROUTER") == {router.id, closed.id}
    assert await ids(q="router", status="open") == {router.id}
    assert await ids(q="fibre_50%") == {fibre.id}  # LIKE's wildcards are literal here
    assert await ids(q="f_b") == set()  # "_" is not "any character" (FIB would match)
    assert await ids(q=f"#{fibre.id}") == {fibre.id}
    assert await ids(q=str(router.id)) == {router.id}
    assert await ids(unassigned="true") == {router.id, closed.id}
    assert await ids(unassigned="true", q="slow") == set()

    # a digit that is no ASCII number is text, never a number to convert
    assert await ids(q="²") == set()
    for bad in ({"q": ""}, {"q": "x" * 101}, {"q": "a\nb"}, {"unassigned": "maybe"}):
        r = await client.get(f"{API}/agent/tickets", params=bad, headers=staff)
        assert r.status_code == 422 and r.json()["error"] == "validation_error", bad
