"""The channels this process delivers through, each when its settings are present
(docs/notifications.md, "Channels"): Telegram (TELEGRAM_BOT_TOKEN), push (FCM_CREDENTIALS), the
web chat (always, with the process's database and Redis), e-mail (SMTP_HOST; outside production
files under DATA_DIR/dev-mail) and SMS (SMS_PROVIDER; the same files outside production). A
message for a channel that is not registered is dead-lettered with the reason, never dropped.

A module of its own: every channel module imports notifications.channels, so the registry of
all of them cannot live there."""

from __future__ import annotations

from backend.config import Settings
from backend.state import Resources
from notifications.channels import WEBCHAT, ChannelRegistry, WebchatChannel
from notifications.email import email_channel
from notifications.push import push_channel
from notifications.sms import sms_channel
from notifications.telegram import telegram_channel


def default_channels(settings: Settings, resources: Resources | None = None) -> ChannelRegistry:
    """Without `resources` (no database or Redis at hand) only e-mail and the SMS stand-in."""
    registry = ChannelRegistry()
    if (email := email_channel(settings)) is not None:
        registry.register("email", email)
    if (sms := sms_channel(settings, resources)) is not None:
        registry.register("sms", sms)
    if resources is None:
        return registry
    registry.register(WEBCHAT, WebchatChannel(resources))
    if (telegram := telegram_channel(settings, resources)) is not None:
        registry.register("telegram", telegram)
    if (push := push_channel(settings, resources)) is not None:
        registry.register("fcm", push)
    return registry
