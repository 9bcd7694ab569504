"""`.env.example` documents every setting, nothing else, and its values are the defaults."""

from __future__ import annotations

import re

import pytest

from backend.config import ROOT_DIR, Settings

ENV_EXAMPLE = ROOT_DIR / ".env.example"
# `NAME=value` or, for optional settings left unset, `# NAME=example`.
_ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")
FIELDS = {name.upper() for name in Settings.model_fields}


def _assignments() -> list[tuple[int, str, bool]]:
    """(line index, NAME, commented out) for every assignment-looking line."""
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    found = []
    for i, line in enumerate(lines):
        m = _ASSIGNMENT.match(line.strip())
        if m:
            found.append((i, m.group(2), m.group(1) is not None))
    return found


def test_every_setting_is_documented():
    names = {name for _, name, _ in _assignments()}
    assert FIELDS - names == set(), "settings missing from .env.example"


def test_nothing_unknown_is_documented():
    names = {name for _, name, _ in _assignments()}
    assert names - FIELDS == set(), "variables in .env.example that Settings does not read"


def test_each_variable_appears_once():
    names = [name for _, name, _ in _assignments()]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []


def test_each_variable_has_a_comment():
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    undocumented = []
    for i, name, _ in _assignments():
        # the block of non-blank lines above the variable must hold an explanatory comment
        j, explained = i - 1, False
        while j >= 0 and lines[j].strip():
            text = lines[j].strip()
            if text.startswith("#") and not _ASSIGNMENT.match(text) and len(text) > 3:
                explained = True
                break
            j -= 1
        if not explained:
            undocumented.append(name)
    assert undocumented == []


@pytest.fixture
def clean_environ(monkeypatch):
    for name in FIELDS:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.usefixtures("clean_environ")
def test_values_are_the_safe_defaults():
    from_file = Settings(_env_file=ENV_EXAMPLE)
    defaults = Settings(_env_file=None)
    assert from_file.model_dump() == defaults.model_dump()
    assert from_file.app_env != "production"
    # optional integrations stay unset rather than empty (an empty token is not "no token")
    for _, name, commented in _assignments():
        if name in {
            "TELEGRAM_BOT_TOKEN",
            "TELEGRAM_WEBHOOK_SECRET",
            "TELEGRAM_PAYMENTS_PROVIDER_TOKEN",
            "FCM_CREDENTIALS",
            "RASA_URL",
            "ALERTMANAGER_TOKEN",
            "YOOKASSA_SHOP_ID",
            "YOOKASSA_SECRET_KEY",
        }:
            assert commented, f"{name} must be commented out in .env.example"


@pytest.mark.usefixtures("clean_environ")
def test_example_with_production_env_is_refused(tmp_path):
    # the demo secrets in the example cannot reach production by accident
    text = ENV_EXAMPLE.read_text(encoding="utf-8").replace(
        "APP_ENV=development", "APP_ENV=production"
    )
    assert "APP_ENV=production" in text
    prod = tmp_path / ".env"
    prod.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="SECRET_KEY is the demo value"):
        Settings(_env_file=prod)
