"""Normalisation of identifiers shared by every domain."""

from __future__ import annotations

import re

_PHONE_JUNK = re.compile(r"[\s\-().]")


def normalize_phone(raw: str) -> str:
    """E.164-ish: '+7 (900) 000-00-01', '8 900 000 00 01' and '79000000001' -> '+79000000001'."""
    phone = _PHONE_JUNK.sub("", raw.strip())
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    digits = phone.lstrip("+")
    if not digits.isdigit() or not 10 <= len(digits) <= 15:
        raise ValueError("not a phone number")
    if not phone.startswith("+"):
        if len(digits) == 11 and digits[0] == "8":
            digits = "7" + digits[1:]
        elif len(digits) == 10 and digits[0] == "9":
            digits = "7" + digits
    return "+" + digits


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def looks_like_email(login: str) -> bool:
    return "@" in login
