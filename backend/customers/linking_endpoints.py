"""Self-service Telegram linking: the cabinet's «Подключить Telegram» button and unlinking."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel

from backend.customers import linking
from backend.deps import ConversationsDep, CurrentCustomer, ResourcesDep, SessionDep, actor_of

router = APIRouter(tags=["customers"])

# Issuing is cheap but each token is a live credential for 10 minutes: a few per minute is
# more than any person needs.
LINKS_PER_WINDOW = 10
LINK_WINDOW_S = 600


class TelegramLinkOut(BaseModel):
    url: str | None  # t.me deep link; None when the bot's username is not configured
    token: str
    start_parameter: str
    expires_in: int


def _own_id(principal: CurrentCustomer) -> int:
    assert principal.customer_id is not None  # guaranteed by CurrentCustomer
    return principal.customer_id


@router.post("/me/telegram/link")
async def create_telegram_link(
    principal: CurrentCustomer, resources: ResourcesDep
) -> TelegramLinkOut:
    """A one-time link (10 minutes) that opens the bot and links the sender's Telegram account
    to this customer. Without a configured bot username only the start parameter is returned
    (send `/start <token>` to the bot)."""
    customer_id = _own_id(principal)
    await resources.limiter.hit("tg-link", str(customer_id), LINKS_PER_WINDOW, LINK_WINDOW_S)
    token = await linking.issue_link_token(resources.redis, customer_id)
    username = resources.settings.telegram_bot_username
    url = f"https://t.me/{str(username).lstrip('@')}?start={token}" if username else None
    return TelegramLinkOut(
        url=url, token=token, start_parameter=token, expires_in=linking.LINK_TOKEN_TTL
    )


@router.delete("/me/telegram", status_code=status.HTTP_204_NO_CONTENT)
async def delete_telegram_link(
    principal: CurrentCustomer,
    session: SessionDep,
    resources: ResourcesDep,
    conversations: ConversationsDep,
) -> None:
    """Unlink every Telegram account from this customer (harmless when none is linked)."""
    customer_id = _own_id(principal)
    await resources.limiter.hit("tg-unlink", str(customer_id), LINKS_PER_WINDOW, LINK_WINDOW_S)
    await linking.unlink_telegram(
        session, customer_id, actor_of(principal), conversations=conversations
    )
