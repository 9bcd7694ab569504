"""rasa.ftl: the same keys in every language, and every rasa-* key the bridge uses exists."""

from __future__ import annotations

import re

from fluent.syntax import FluentParser, ast

from backend.config import ROOT_DIR
from backend.i18n import SUPPORTED_LOCALES, catalog


def _keys(locale: str) -> set[str]:
    text = (ROOT_DIR / "locales" / locale / "rasa.ftl").read_text(encoding="utf-8")
    resource = FluentParser().parse(text)
    assert [e for e in resource.body if isinstance(e, ast.Junk)] == []
    return {e.id.name for e in resource.body if isinstance(e, ast.Message)}


def test_same_keys_in_every_language():
    assert _keys("ru") == _keys("en")


def test_every_key_used_in_code_exists():
    source = (ROOT_DIR / "dialogs" / "rasa_actions.py").read_text(encoding="utf-8")
    used = set(re.findall(r'"((?:rasa|dialogs)-[a-z0-9-]+)"', source))
    assert len(used) >= 15
    for locale in SUPPORTED_LOCALES:
        missing = {key for key in used if not catalog().has(key, locale)}
        assert missing == set(), locale
