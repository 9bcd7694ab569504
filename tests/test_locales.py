"""The Fluent catalogs: both locales have the same messages, every key the code names exists,
every AppError code has its `error-<code>` text, and Russian counts take the right plural form.

Each check is a function over a locales directory (and source roots) that returns the problems
it finds, so the tests also run it on a deliberately broken copy to prove it can fail."""

from __future__ import annotations

import ast
import importlib
import itertools
import pkgutil
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fluent.syntax import ast as fl
from fluent.syntax import parse
from fluent.syntax.visitor import Visitor

import backend
import dialogs
from backend.errors import AppError
from backend.i18n import LOCALES_DIR, SUPPORTED_LOCALES, Catalog
from backend.models.enums import Channel
from dialogs.engine import _NAV_WORDS

ROOT = LOCALES_DIR.parent
CODE_ROOTS = ("backend", "dialogs", "notifications", "bot")
KEY_PREFIXES = (
    "auth",
    "billing",
    "dialogs",
    "documents",
    "error",
    "network",
    "notifications",
    "payments",
    "rasa",
    "ticket",
)
_KEY = re.compile(rf"^(?:{'|'.join(KEY_PREFIXES)})-[a-z0-9]+(?:-[a-z0-9]+)*$")
_KEBAB = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
# Keys built at run time from a fixed set of values: (template, values).
_DYNAMIC_KEYS = (
    ("dialogs-words-{}", _NAV_WORDS),  # dialogs/engine.py
    ("dialogs-settings-lang-{}", SUPPORTED_LOCALES),  # dialogs/flows/settings.py
    # dialogs/flows/identify.py: conversations come from these channels only.
    ("dialogs-identify-{}", (Channel.telegram.value, Channel.webchat.value)),
    ("documents-unit-{}", ("day", "month", "piece")),  # backend/documents/generate.py Line.unit
)


# --- the checks ------------------------------------------------------------------------------


def messages(locales_dir: Path, lang: str) -> dict[str, dict[str, set[str]]]:
    """file name -> message id -> its attribute names. Junk (a syntax error) is a problem too,
    reported as a message named "!junk:<line>"."""
    out: dict[str, dict[str, set[str]]] = {}
    for path in sorted((locales_dir / lang).glob("*.ftl")):
        found: dict[str, set[str]] = {}
        for entry in parse(path.read_text(encoding="utf-8")).body:
            if isinstance(entry, fl.Message):
                found[entry.id.name] = {a.id.name for a in entry.attributes}
            elif isinstance(entry, fl.Junk):
                found[f"!junk:{entry.content.splitlines()[0][:40]}"] = set()
        out[path.name] = found
    return out


def parity_problems(locales_dir: Path) -> list[str]:
    ru, en = messages(locales_dir, "ru"), messages(locales_dir, "en")
    problems = [f"{name} only in ru" for name in sorted(ru.keys() - en.keys())]
    problems += [f"{name} only in en" for name in sorted(en.keys() - ru.keys())]
    seen: dict[str, str] = {}
    for name in sorted(ru.keys() & en.keys()):
        for key in sorted(ru[name].keys() ^ en[name].keys()):
            where = "ru" if key in ru[name] else "en"
            problems.append(f"{name}: {key} only in {where}")
        for key in sorted(ru[name].keys() & en[name].keys()):
            if key.startswith("!junk"):
                problems.append(f"{name}: syntax error near {key}")
            elif not _KEBAB.match(key):
                problems.append(f"{name}: {key} is not kebab-case")
            if ru[name][key] != en[name][key]:
                problems.append(f"{name}: {key} attributes {ru[name][key]} != {en[name][key]}")
            if key in seen:
                problems.append(f"{name}: {key} also defined in {seen[key]}")
            seen[key] = name
    return problems


def _string_keys(tree: ast.AST) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and _KEY.match(node.value)
        ):
            yield node.value, node.lineno


def used_keys(root: Path) -> dict[str, str]:
    """Every string literal in the code that is shaped like a catalog key -> where it is."""
    found: dict[str, str] = {}
    for top in CODE_ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for key, line in _string_keys(tree):
                found.setdefault(key, f"{path.relative_to(root)}:{line}")
    for template, values in _DYNAMIC_KEYS:
        for value in values:
            found.setdefault(template.format(value), f"built from {template!r}")
    return found


def error_codes() -> dict[str, str]:
    """Every AppError subclass's code -> one class that has it."""
    for package in (backend, dialogs):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    codes: dict[str, str] = {}
    stack = list(AppError.__subclasses__())
    while stack:
        cls = stack.pop()
        codes.setdefault(cls.code, f"{cls.__module__}.{cls.__qualname__}")
        stack.extend(cls.__subclasses__())
    return codes


def missing_keys(locales_dir: Path, keys: dict[str, str]) -> list[str]:
    problems = []
    for lang in SUPPORTED_LOCALES:
        have = set().union(*(m.keys() for m in messages(locales_dir, lang).values()))
        problems += [f"{lang}: {k} ({where})" for k, where in sorted(keys.items()) if k not in have]
    return problems


# count -> which of the three Russian forms it takes (1 день, 2 дня, 5 дней)
_RU_FORMS = {1: 0, 2: 1, 5: 2, 11: 2, 14: 2, 21: 0, 22: 1, 25: 2}
_NOUNS = (("день", "дня", "дней"), ("месяц", "месяца", "месяцев"), ("раз", "раза", "раз"))
_COUNT_NOUN = re.compile(r"^\s*(день|дня|дней|месяц|месяца|месяцев|раз|раза|час|часа|часов)\b")


def _variables(node: object) -> set[str]:
    found: set[str] = set()

    class Walk(Visitor):  # type: ignore[misc]
        def visit_VariableReference(self, ref: fl.VariableReference) -> None:
            found.add(ref.id.name)

    Walk().visit(node)
    return found


def plural_problems(locales_dir: Path) -> list[str]:
    """Russian: a number followed by a counted noun outside a selector; and for every selector on a
    count, 1/2/5/11/21/22/25 pick one/few/many (or the default when `many` is left to it)."""
    problems: list[str] = []
    catalog = Catalog(locales_dir)
    for path in sorted((locales_dir / "ru").glob("*.ftl")):
        for entry in parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(entry, fl.Message) or entry.value is None:
                continue
            elements = entry.value.elements
            for before, after in itertools.pairwise(elements):
                if (
                    isinstance(before, fl.Placeable)
                    and isinstance(before.expression, fl.VariableReference)
                    and isinstance(after, fl.TextElement)
                    and _COUNT_NOUN.match(after.value)
                ):
                    problems.append(f"{entry.id.name}: ${before.expression.id.name} without plural")
            for element in elements:
                if not isinstance(element, fl.Placeable):
                    continue
                select = element.expression
                if not isinstance(select, fl.SelectExpression) or not isinstance(
                    select.selector, fl.VariableReference
                ):
                    continue
                keys = {getattr(v.key, "name", None) for v in select.variants}
                if not keys & {"one", "few", "many"}:
                    continue  # a select on a string (yes/no, a status), not on a count
                var = select.selector.id.name
                others = {name: "x" for name in _variables(entry.value) - {var}}
                texts = " ".join(
                    e.value
                    for v in select.variants
                    for e in v.value.elements
                    if isinstance(e, fl.TextElement)
                )
                for forms in _NOUNS:
                    if not re.search(rf"\b({'|'.join(forms)})\b", texts):
                        continue
                    for count, index in _RU_FORMS.items():
                        rendered = catalog.text(entry.id.name, "ru", **{**others, var: count})
                        if not re.search(rf"\b{forms[index]}\b", rendered):
                            problems.append(f"{entry.id.name}: {count} should read {forms[index]}")
    return problems


# --- the tests ------------------------------------------------------------------------------


def test_both_locales_have_the_same_files_keys_and_attributes() -> None:
    assert parity_problems(LOCALES_DIR) == []


def test_every_key_used_in_code_exists() -> None:
    keys = used_keys(ROOT)
    # The scan really sees the code: a sample of keys from each kind of use.
    assert {"billing-low-balance", "dialogs-words-cancel", "documents-unit-day"} <= keys.keys()
    assert len(keys) > 300
    assert missing_keys(LOCALES_DIR, keys) == []


def test_every_error_code_has_a_text() -> None:
    codes = error_codes()
    assert {"not_found", "pp_disabled", "rate_limited"} <= codes.keys()
    keys = {"error-" + code.replace("_", "-"): cls for code, cls in codes.items()}
    assert missing_keys(LOCALES_DIR, keys) == []


def test_russian_plurals() -> None:
    assert plural_problems(LOCALES_DIR) == []


@pytest.mark.parametrize(("days", "word"), [(1, "день"), (2, "дня"), (5, "дней"), (21, "день")])
def test_russian_day_counts_render(days: int, word: str) -> None:
    catalog = Catalog()
    assert catalog.text("error-freeze-too-short", "ru", days=days).endswith(f"{days} {word}.")


# --- the checks can fail ----------------------------------------------------------------------


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    copy = tmp_path / "locales"
    for lang in SUPPORTED_LOCALES:
        (copy / lang).mkdir(parents=True)
        for path in (LOCALES_DIR / lang).glob("*.ftl"):
            shutil.copy(path, copy / lang / path.name)
    return copy


def test_parity_check_finds_a_missing_key_attribute_and_file(broken: Path) -> None:
    en = broken / "en" / "dialogs.ftl"
    text = en.read_text(encoding="utf-8")
    first = next(m for m in messages(LOCALES_DIR, "en")["dialogs.ftl"])
    en.write_text(
        re.sub(rf"^{first} =.*\n", "", text, count=1, flags=re.M)
        + "\nextra-key = x\n    .title = y\nsnake_key = z\n",
        encoding="utf-8",
    )
    (broken / "ru" / "only-ru.ftl").write_text("lonely = x\n", encoding="utf-8")
    problems = parity_problems(broken)
    assert f"dialogs.ftl: {first} only in ru" in problems
    assert "dialogs.ftl: extra-key only in en" in problems
    assert "dialogs.ftl: snake_key only in en" in problems
    assert "only-ru.ftl only in ru" in problems


def test_used_key_check_finds_a_missing_key(tmp_path: Path, broken: Path) -> None:
    (tmp_path / "dialogs").mkdir()
    (tmp_path / "dialogs" / "x.py").write_text(
        'def f(ctx):\n    return ctx.t("dialogs-no-such-text")\n', encoding="utf-8"
    )
    keys = used_keys(tmp_path)
    assert keys["dialogs-no-such-text"] == "dialogs/x.py:2"
    assert any("dialogs-no-such-text" in p for p in missing_keys(broken, keys))
    (broken / "en" / "errors.ftl").unlink()
    problems = missing_keys(broken, {"error-not-found": "NotFound"})
    assert problems == ["en: error-not-found (NotFound)"]


def test_plural_check_finds_a_bare_count_and_a_wrong_form(broken: Path) -> None:
    (broken / "ru" / "zz.ftl").write_text(
        "zz-bare = Осталось { $days } дней.\n"
        "zz-wrong = { $days ->\n    [one] { $days } дней\n    [few] { $days } дня\n"
        "   *[other] { $days } дней\n}\n",
        encoding="utf-8",
    )
    problems = plural_problems(broken)
    assert "zz-bare: $days without plural" in problems
    assert "zz-wrong: 1 should read день" in problems
    assert "zz-wrong: 21 should read день" in problems
