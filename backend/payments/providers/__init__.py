"""Payment providers behind one interface (base.PaymentProvider), chosen by name."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.payments.errors import ProviderNotConfigured, ProviderUnavailable, UnknownProvider
from backend.payments.providers import sandbox, telegram, yookassa
from backend.payments.providers.base import Created, PaymentProvider, ProviderState

KNOWN = (sandbox.NAME, yookassa.NAME, telegram.NAME)
# Providers a customer can pay with through a redirect (POST /payments); Telegram payments are
# created by the bot with service.create_telegram_payment.
REDIRECT = (sandbox.NAME, yookassa.NAME)

__all__ = [
    "KNOWN",
    "REDIRECT",
    "Created",
    "PaymentProvider",
    "ProviderNotConfigured",
    "ProviderState",
    "ProviderUnavailable",
    "UnknownProvider",
    "enabled",
    "get_provider",
]


def enabled(name: str, settings: Settings) -> bool:
    if name == sandbox.NAME:
        return sandbox.enabled(settings)
    if name == yookassa.NAME:
        return yookassa.enabled(settings)
    if name == telegram.NAME:
        return telegram.enabled(settings)
    return False


def get_provider(name: str, settings: Settings, session: AsyncSession) -> PaymentProvider:
    """The provider called `name`; UnknownProvider or ProviderNotConfigured otherwise."""
    if name not in KNOWN:
        raise UnknownProvider(f"unknown payment provider; known: {', '.join(KNOWN)}")
    if not enabled(name, settings):
        raise ProviderNotConfigured(f"the payment provider {name} is not enabled")
    if name == sandbox.NAME:
        return sandbox.SandboxProvider(settings, session)
    if name == yookassa.NAME:
        return yookassa.YooKassaProvider(settings)
    return telegram.TelegramProvider()
