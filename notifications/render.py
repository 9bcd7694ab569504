"""Payload -> text. Templates are messages of the shared Fluent catalog (`locales/<lang>/*.ftl`,
backend/i18n.py); a payload names one by key: `{"template": "auth-password-reset-code",
"args": {...}, "locale": "ru"}`.

Stricter than `backend.i18n.t()`: a missing or malformed argument is an error here, because a
message with a literal "{$code}" in it must not reach a customer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from fluent.runtime import FluentBundle

from backend.i18n import Catalog

FluentArg = str | int | float | Decimal


class RenderError(Exception):
    """The payload cannot become a message (unknown template, missing argument): retrying
    will not help, so the worker dead-letters it."""


@dataclass(frozen=True)
class RenderedText:
    locale: str
    text: str
    subject: str | None = None


def _fluent_args(args: Mapping[str, Any]) -> dict[str, FluentArg]:
    # Fluent takes strings and numbers only; anything else is a bug of the sender.
    out: dict[str, FluentArg] = {}
    for key, value in args.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise RenderError(f"argument {key!r} must be a string or a number")
        out[key] = value
    return out


@lru_cache
def _catalog(default_locale: str) -> Catalog:
    return Catalog(default_locale=default_locale)


class Renderer:
    """Unknown locales fall back to the default one, and a template missing in the requested
    locale falls back to the default locale's. The message's `.subject` attribute, when it has
    one, is the email subject."""

    def __init__(self, default_locale: str = "ru", catalog: Catalog | None = None) -> None:
        self.catalog = catalog or _catalog(default_locale)

    @property
    def default_locale(self) -> str:
        return self.catalog.default_locale

    def render(self, template: str, args: Mapping[str, Any], locale: str | None) -> RenderedText:
        chosen = self.catalog.locale_for(locale)
        for candidate in dict.fromkeys((chosen, self.default_locale)):
            bundle = self.catalog.bundles[candidate]
            if bundle.has_message(template):
                return self._format(bundle, candidate, template, _fluent_args(args))
        raise RenderError(f"unknown template {template!r}")

    @staticmethod
    def _format(
        bundle: FluentBundle, locale: str, template: str, args: dict[str, FluentArg]
    ) -> RenderedText:
        message = bundle.get_message(template)
        if message.value is None:
            raise RenderError(f"template {template!r} has no text")
        text, errors = bundle.format_pattern(message.value, args)
        subject: str | None = None
        if "subject" in message.attributes:
            value, subject_errors = bundle.format_pattern(message.attributes["subject"], args)
            subject = str(value)
            errors = [*errors, *subject_errors]
        if errors:
            raise RenderError(f"template {template!r}: {errors[0]}")
        return RenderedText(locale=locale, text=str(text), subject=subject)
