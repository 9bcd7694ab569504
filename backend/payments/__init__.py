"""Payments: top-ups through providers (sandbox, YooKassa, Telegram) credited exactly once."""
