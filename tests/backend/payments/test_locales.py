"""payments.ftl: the same keys in every language, and every key the code uses exists."""

from __future__ import annotations

import re

from fluent.syntax import FluentParser, ast

from backend.config import ROOT_DIR
from backend.i18n import SUPPORTED_LOCALES


def _keys(locale: str) -> set[str]:
    text = (ROOT_DIR / "locales" / locale / "payments.ftl").read_text(encoding="utf-8")
    resource = FluentParser().parse(text)
    junk = [e for e in resource.body if isinstance(e, ast.Junk)]
    assert junk == [], f"{locale}/payments.ftl does not parse"
    return {e.id.name for e in resource.body if isinstance(e, ast.Message)}


def test_same_keys_in_every_language():
    keys = {locale: _keys(locale) for locale in SUPPORTED_LOCALES}
    assert keys["ru"] == keys["en"]


def test_every_key_used_in_code_exists():
    used: set[str] = set()
    for path in (ROOT_DIR / "backend" / "payments").rglob("*.py"):
        used |= set(re.findall(r'"(payments-[a-z-]+)"', path.read_text(encoding="utf-8")))
    assert len(used) >= 15
    for locale in SUPPORTED_LOCALES:
        assert used <= _keys(locale), used - _keys(locale)
