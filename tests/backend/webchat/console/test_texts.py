"""Every text the console's templates and script name is in both catalogs (the catalog tests
scan Python for keys; templates and the script's key list are checked here)."""

from __future__ import annotations

import json
import re

import pytest

from backend.i18n import SUPPORTED_LOCALES, catalog
from backend.webchat.console import pages

# A key written out whole; one ending in "-" is a prefix that a value completes (checked below).
_TEMPLATE_KEY = re.compile(r"""t\(["'](console-[a-z0-9-]*[a-z0-9])["']""")


def template_keys() -> set[str]:
    found: set[str] = set()
    for path in (pages.HERE / "templates").glob("*.html"):
        found |= set(_TEMPLATE_KEY.findall(path.read_text(encoding="utf-8")))
    return found


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_the_templates_and_the_script_have_their_texts(locale: str) -> None:
    keys = template_keys() | set(pages.JS_TEXT_KEYS)
    assert len(keys) > 100
    bundle = catalog().bundles[locale]
    assert sorted(k for k in keys if not bundle.has_message(k)) == []


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_the_texts_built_from_values_exist(locale: str) -> None:
    from backend.models import TicketCategory, TicketPriority, TicketStatus

    bundle = catalog().bundles[locale]
    built = [f"console-category-{c.value.replace('_', '-')}" for c in TicketCategory]
    built += [f"console-ticket-status-{s.value.replace('_', '-')}" for s in TicketStatus]
    built += [f"console-ticket-priority-{p.value}" for p in TicketPriority]
    built += [f"console-state-{s}" for s in ("waiting-agent", "agent", "bot", "closed")]
    built += [f"console-channel-{c}" for c in ("telegram", "webchat")]
    built += [f"console-agent-{s}" for s in ("online", "away", "offline")]
    assert [k for k in built if not bundle.has_message(k)] == []


def test_the_script_gets_placeholders_and_no_markup() -> None:
    texts = json.loads(pages.js_texts("en"))
    assert texts["console-claimed-by"] == "Already taken by {name}."
    raw = pages.js_texts("ru")
    assert "<" not in raw and ">" not in raw
