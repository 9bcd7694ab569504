"""The dialogs engine as the bot runs it: a turn that fails because PostgreSQL or Redis is
away raises instead of answering with an error, so the inbox puts the update back and runs
the turn again once they are back (bot/inbox.py). Every other failure is answered as the
engine answers it ("something went wrong", with a way to an agent)."""

from __future__ import annotations

from backend.logging import get_logger
from bot.inbox import is_outage
from dialogs.engine import Engine
from dialogs.types import Inbound, Outbound

log = get_logger("dialogs.engine")


class TurnDeferred(Exception):
    """The turn could not run for an outage; the update is retried (the cause is chained)."""


class BotEngine(Engine):
    async def handle(self, inbound: Inbound) -> list[Outbound]:
        # Engine.handle answers every failure with an error reply; an outage is not the
        # customer's problem and the turn is idempotent per update (external_id), so it is
        # handed back to the inbox instead.
        try:
            return await self._turn(inbound)
        except Exception as exc:
            if is_outage(exc):
                raise TurnDeferred(f"{type(exc).__name__}: {exc}") from exc
            log.exception("dialogs.turn_failed", channel=inbound.channel, chat_id=inbound.chat_id)
            return await self._error_reply(inbound)
