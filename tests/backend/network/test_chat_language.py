"""A customer who asked in a chat to be told of the fix hears the end in that chat's language,
whatever their account's language."""

from __future__ import annotations

from backend.models import Channel, Conversation, ConversationState
from backend.network import service as network
from notifications.channels import ChannelRegistry, FakeChannel
from notifications.worker import deliver_once
from tests.factories import make_customer


async def test_the_end_notice_speaks_the_chats_language(resources, session) -> None:
    _, customer = await make_customer(session, network_node="n-9")  # ru on the account
    customer.network_node = None  # not on the node: told of the end only because they asked
    chat = Conversation(
        channel=Channel.telegram,
        chat_id="9001",
        customer_id=customer.id,
        state=ConversationState.bot,
        flow={},
        locale="en",
    )
    session.add(chat)
    await session.commit()
    async with network.changing_outages(resources.sessionmaker) as s:
        outage = await network.open_outage(s, title="Fibre cut", area=None, node="n-9")
        await network.subscribe_to_fix(s, outage.id, customer.id, chat.id)
    async with network.changing_outages(resources.sessionmaker) as s:
        assert await network.resolve_outage(s, outage.id) == 1
    email = FakeChannel()
    await deliver_once(resources, ChannelRegistry({"email": email}))
    [sent] = email.sent
    assert sent.kind == "outage.resolved"
    assert sent.locale == "en"
    assert sent.text.startswith("The outage is fixed: Fibre cut.")
