"""Outbox delivery: the worker and its channels (email, SMS, Telegram, FCM, web chat)."""
