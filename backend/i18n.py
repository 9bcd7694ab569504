"""Fluent catalogs (`locales/<lang>/*.ftl`) shared by every channel: the API's pages, PDFs,
notifications, the bot and the widget. Kebab-case keys prefixed by domain (`billing-balance`,
`error-payment-declined`)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from fluent.runtime import FluentBundle, FluentResource

from backend.config import ROOT_DIR

LOCALES_DIR = ROOT_DIR / "locales"
SUPPORTED_LOCALES = ("ru", "en")
DEFAULT_LOCALE = "ru"

FluentArg = str | int | float | Decimal


class MissingMessage(KeyError):
    """A key that neither the requested nor the default locale has: a bug, caught by tests."""


class Catalog:
    """Bundles per locale, loaded once. An unknown locale falls back to the default, and a
    key missing in the requested locale falls back to the default locale's text."""

    def __init__(self, locales_dir: Path = LOCALES_DIR, default_locale: str = DEFAULT_LOCALE):
        self.default_locale = default_locale
        self.bundles: dict[str, FluentBundle] = {}
        for locale in SUPPORTED_LOCALES:
            # Isolation marks (U+2068/U+2069) would end up inside SMS, PDF and chat text.
            bundle = FluentBundle([locale], use_isolating=False)
            for path in sorted((locales_dir / locale).glob("*.ftl")):
                bundle.add_resource(FluentResource(path.read_text(encoding="utf-8")))
            self.bundles[locale] = bundle

    def locale_for(self, locale: str | None) -> str:
        if locale:
            short = locale.split("-")[0].split("_")[0].lower()
            if short in self.bundles:
                return short
        return self.default_locale

    def has(self, key: str, locale: str | None = None) -> bool:
        return self.bundles[self.locale_for(locale)].has_message(key)

    def text(self, key: str, locale: str | None = None, /, **args: Any) -> str:
        chosen = self.locale_for(locale)
        for candidate in dict.fromkeys((chosen, self.default_locale)):
            bundle = self.bundles[candidate]
            if bundle.has_message(key):
                message = bundle.get_message(key)
                if message.value is None:
                    break
                value, _errors = bundle.format_pattern(message.value, _fluent_args(args))
                return str(value)
        raise MissingMessage(key)

    def attribute(self, key: str, attribute: str, locale: str | None = None, /, **args: Any) -> str:
        bundle = self.bundles[self.locale_for(locale)]
        if not bundle.has_message(key):
            bundle = self.bundles[self.default_locale]
        message = bundle.get_message(key)
        value, _errors = bundle.format_pattern(message.attributes[attribute], _fluent_args(args))
        return str(value)


def _fluent_args(args: Mapping[str, Any]) -> dict[str, FluentArg]:
    out: dict[str, FluentArg] = {}
    for key, value in args.items():
        if isinstance(value, bool):
            out[key] = str(value).lower()
        elif isinstance(value, str | int | float | Decimal):
            out[key] = value
        elif value is None:
            out[key] = ""
        else:
            out[key] = str(value)
    return out


@lru_cache
def catalog() -> Catalog:
    return Catalog()


def major(amount: int) -> Decimal:
    """Minor units (kopecks) as the decimal number the catalogs format with NUMBER(...)."""
    return Decimal(amount) / 100


def t(key: str, locale: str | None = None, /, **args: Any) -> str:
    """The text of `key` in `locale` (falling back to Russian)."""
    return catalog().text(key, locale, **args)
