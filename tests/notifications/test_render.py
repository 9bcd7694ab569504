from __future__ import annotations

from decimal import Decimal

import pytest

from backend.i18n import LOCALES_DIR, Catalog
from notifications.render import Renderer, RenderError


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(default_locale="ru")


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        (1, "1 минута"),
        (2, "2 минуты"),
        (4, "4 минуты"),
        (5, "5 минут"),
        (11, "11 минут"),
        (15, "15 минут"),
        (21, "21 минута"),
        (22, "22 минуты"),
    ],
)
def test_password_reset_russian_plurals(renderer, minutes, expected):
    out = renderer.render("auth-password-reset-code", {"code": "048213", "minutes": minutes}, "ru")
    assert out.locale == "ru"
    assert "048213" in out.text  # a string code keeps its leading zero
    assert f"— {expected}." in out.text
    assert out.subject == "Восстановление пароля"


@pytest.mark.parametrize(
    ("minutes", "expected"), [(1, "1 minute."), (2, "2 minutes."), (15, "15 minutes.")]
)
def test_password_reset_english_plurals(renderer, minutes, expected):
    out = renderer.render("auth-password-reset-code", {"code": "777001", "minutes": minutes}, "en")
    assert out.locale == "en"
    assert "Your password reset code: 777001" in out.text
    assert f"valid for {expected}" in out.text
    assert out.subject == "Password reset"


def test_ticket_updated_in_both_languages(renderer):
    def render(locale: str, **args: object):
        return renderer.render("ticket-updated", {"ticket": 12345, **args}, locale)

    ru = render("ru", status="in_progress", event="status_changed")
    # ticket numbers are identifiers: no thousands separator
    assert ru.text == "Заявка № 12345 обновлена. Статус: в работе."
    assert ru.subject == "Заявка № 12345 обновлена"
    en = render("en", status="resolved", event="status_changed")
    assert en.text.startswith("Ticket #12345 has been updated. Status: resolved.")
    unknown_status = render("en", status="merged", event="status_changed")
    assert unknown_status.text == "Ticket #12345 has been updated. See your account for details."
    reply = render("ru", status="open", event="reply")
    assert reply.text.startswith("По заявке № 12345 новый ответ специалиста.")


@pytest.mark.parametrize(
    ("locale", "days", "expected"),
    [
        ("ru", 1, "На счёте 1\u00a0234,56 RUB — этого хватит примерно на 1 день."),
        ("ru", 3, "На счёте 1\u00a0234,56 RUB — этого хватит примерно на 3 дня."),
        ("ru", 5, "На счёте 1\u00a0234,56 RUB — этого хватит примерно на 5 дней."),
        ("en", 1, "Your balance is 1,234.56 RUB, enough for about 1 day."),
        ("en", 3, "Your balance is 1,234.56 RUB, enough for about 3 days."),
    ],
)
def test_low_balance_money_and_plurals(renderer, locale, days, expected):
    args = {"balance": Decimal(123456).scaleb(-2), "currency": "RUB", "days": days}
    out = renderer.render("billing-low-balance", args, locale)
    assert out.text.startswith(expected)


def test_whole_amounts_keep_two_decimals(renderer):
    args = {"balance": Decimal(5000).scaleb(-2), "currency": "RUB", "days": 1}
    assert "50.00 RUB" in renderer.render("billing-low-balance", args, "en").text


def test_no_bidi_isolation_marks(renderer):
    out = renderer.render("auth-password-reset-code", {"code": "123456", "minutes": 3}, "ru")
    assert "\u2068" not in out.text
    assert "\u2069" not in out.text


def test_unknown_locale_falls_back_to_the_default(renderer):
    out = renderer.render("auth-password-reset-code", {"code": "1", "minutes": 5}, "de")
    assert out.locale == "ru"
    assert "5 минут" in out.text
    out = renderer.render("auth-password-reset-code", {"code": "1", "minutes": 5}, None)
    assert out.locale == "ru"
    # regional variants use their language
    out = renderer.render("auth-password-reset-code", {"code": "1", "minutes": 5}, "en-GB")
    assert out.locale == "en"


def test_default_locale_comes_from_the_setting():
    out = Renderer("en").render("auth-password-reset-code", {"code": "1", "minutes": 2}, "de")
    assert out.locale == "en"
    assert "2 minutes" in out.text


def test_missing_template_in_locale_falls_back_to_default(tmp_path):
    (tmp_path / "ru").mkdir()
    (tmp_path / "en").mkdir()
    (tmp_path / "ru" / "x.ftl").write_text("only-ru = Только по-русски\n", encoding="utf-8")
    r = Renderer(catalog=Catalog(locales_dir=tmp_path, default_locale="ru"))
    out = r.render("only-ru", {}, "en")
    assert (out.locale, out.text) == ("ru", "Только по-русски")


def test_unknown_template_is_an_error(renderer):
    with pytest.raises(RenderError, match="unknown template"):
        renderer.render("no-such-template", {}, "ru")


def test_missing_argument_is_an_error(renderer):
    # a text with a literal "{$code}" must never reach a customer
    with pytest.raises(RenderError, match="code"):
        renderer.render("auth-password-reset-code", {"minutes": 5}, "ru")


@pytest.mark.parametrize("bad", [None, ["x"], {"a": 1}, True])
def test_non_scalar_argument_is_an_error(renderer, bad):
    with pytest.raises(RenderError, match="code"):
        renderer.render("auth-password-reset-code", {"code": bad, "minutes": 5}, "ru")


def test_every_locale_has_the_same_notification_keys():
    def keys(lang: str) -> set[str]:
        text = (LOCALES_DIR / lang / "notifications.ftl").read_text(encoding="utf-8")
        return {line.split("=")[0].strip() for line in text.splitlines() if line[:1].isalpha()}

    assert keys("ru") == keys("en")
    assert {"auth-password-reset-code", "ticket-updated", "billing-low-balance"} <= keys("ru")


@pytest.mark.parametrize("lang", ["ru", "en"])
def test_notification_catalog_parses_cleanly_and_keys_are_unique(lang):
    from fluent.syntax import FluentParser, ast

    seen: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / lang).glob("*.ftl")):
        resource = FluentParser().parse(path.read_text(encoding="utf-8"))
        if path.name == "notifications.ftl":
            junk = [e.content for e in resource.body if isinstance(e, ast.Junk)]
            assert junk == []
        for entry in resource.body:
            if isinstance(entry, ast.Message):
                # a second definition is silently ignored by Fluent: the first file wins
                assert entry.id.name not in seen, f"{entry.id.name} in {seen.get(entry.id.name)}"
                seen[entry.id.name] = path.name
