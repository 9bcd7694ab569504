"""Normalisation of identifiers shared by every domain."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

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


# Ids travel as BIGINT: anything larger is refused up front instead of overflowing in SQL.
MAX_ID = 2**63 - 1

# PostgreSQL refuses NUL in text, and other control characters are never meant; refuse them as
# bad input rather than letting them reach the database.
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f]")


def multiline_text(value: str) -> str:
    if _CONTROL_MULTILINE.search(value):
        raise ValueError("control characters are not allowed")
    return value


def single_line(value: str) -> str:
    if _CONTROL_LINE.search(value):
        raise ValueError("line breaks and control characters are not allowed")
    return value


Line = Annotated[str, AfterValidator(single_line)]
Text = Annotated[str, AfterValidator(multiline_text)]
