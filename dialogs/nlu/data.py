"""Training data in Rasa NLU YAML and the deterministic variants generated from it."""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from dialogs.nlu.features import to_cyrillic, to_latin

LOCALES_DIR: Final = Path(__file__).resolve().parents[2] / "locales"
EVAL_DIR: Final = Path(__file__).resolve().parent / "eval"

INTENTS: Final = (
    "greet",
    "goodbye",
    "thanks",
    "help",
    "check_balance",
    "top_up",
    "payment_history",
    "promised_payment",
    "list_tariffs",
    "change_tariff",
    "my_services",
    "suspend_service",
    "no_internet",
    "slow_internet",
    "open_ticket",
    "ticket_status",
    "get_documents",
    "talk_to_agent",
    "connect_new",
    "affirm",
    "deny",
    "out_of_scope",
)

# [text](entity) and [text]{"entity": "x", "value": "y"}
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\(([^)]+)\)|\{[^}]*\})")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    entities: tuple[tuple[str, str, int, int], ...] = ()  # (entity, text, start, end)


def strip_annotations(raw: str) -> tuple[str, tuple[tuple[str, str, int, int], ...]]:
    out: list[str] = []
    ents: list[tuple[str, str, int, int]] = []
    pos = 0
    length = 0
    for m in _ANNOTATION.finditer(raw):
        before = raw[pos : m.start()]
        out.append(before)
        length += len(before)
        value = m.group(1)
        name = m.group(2) or ""
        if not name:
            found = re.search(r'"entity"\s*:\s*"([^"]+)"', m.group(0))
            name = found.group(1) if found else ""
        ents.append((name, value, length, length + len(value)))
        out.append(value)
        length += len(value)
        pos = m.end()
    out.append(raw[pos:])
    return "".join(out), tuple(ents)


def load_yaml(path: Path) -> list[Example]:
    """Read a Rasa NLU YAML file (`nlu: - intent: X  examples: |  - text`)."""
    doc: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    examples: list[Example] = []
    for block in doc.get("nlu") or []:
        intent = block.get("intent")
        if not intent:
            continue
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if not line.startswith("- "):
                continue
            text, ents = strip_annotations(line[2:].strip())
            if text:
                examples.append(Example(text, str(intent), ents))
    return examples


def training_path(lang: str) -> Path:
    return LOCALES_DIR / lang / "nlu.yml"


def data_hash(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


_NEIGHBOURS: Final = {
    # Keys next to each other on ЙЦУКЕН / QWERTY: the commonest real typos.
    **dict.fromkeys("йцукенгшщзхъ", "йцукенгшщзхъ"),
    **dict.fromkeys("фывапролджэ", "фывапролджэ"),
    **dict.fromkeys("ячсмитьбю", "ячсмитьбю"),
    **dict.fromkeys("qwertyuiop", "qwertyuiop"),
    **dict.fromkeys("asdfghjkl", "asdfghjkl"),
    **dict.fromkeys("zxcvbnm", "zxcvbnm"),
}

_RU_SLANG: Final = (
    ("интернет", "инет"),
    ("интернета", "инета"),
    ("деньги", "бабки"),
    ("денег", "бабла"),
    ("сейчас", "щас"),
    ("что", "че"),
    ("тысяч", "тыщ"),
    ("пожалуйста", "плиз"),
    ("сколько", "скока"),
)


def _typo(text: str, rng: random.Random) -> str:
    chars = list(text)
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    if len(letters) < 4:
        return text
    i = rng.choice(letters)
    op = rng.random()
    if op < 0.3:
        del chars[i]
    elif op < 0.55 and i + 1 < len(chars):
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    elif op < 0.75:
        chars.insert(i, chars[i])
    else:
        row = _NEIGHBOURS.get(chars[i].lower())
        if row:
            j = row.index(chars[i].lower())
            chars[i] = row[max(0, min(len(row) - 1, j + rng.choice((-1, 1))))]
    return "".join(chars)


def _plain(text: str) -> str:
    return re.sub(r"[^\w\s]", "", text).lower().strip()


def variants(ex: Example, lang: str, rng: random.Random, per_example: int = 4) -> list[str]:
    """Deterministic noisy copies: no punctuation or case, one or two typos, slang, and for
    Russian the transliterated form read back as the parser reads it."""
    out = [_plain(ex.text), _typo(_plain(ex.text), rng)]
    out.append(_typo(_typo(ex.text, rng), rng))
    if lang == "ru":
        out.append(to_cyrillic(to_latin(ex.text)))
        slang = ex.text.lower()
        for a, b in _RU_SLANG:
            slang = re.sub(rf"\b{a}\b", b, slang)
        if slang != ex.text.lower():
            out.append(slang)
    return [v for v in out[: per_example + 1] if v and v != ex.text]


def training_set(lang: str, seed: int = 20261126) -> list[tuple[str, str]]:
    """(text, intent) pairs: the hand-written examples plus their generated variants."""
    rng = random.Random(seed)  # noqa: S311 - deterministic variants, not security
    pairs: list[tuple[str, str]] = []
    for ex in load_yaml(training_path(lang)):
        pairs.append((ex.text, ex.intent))
        pairs.extend((v, ex.intent) for v in variants(ex, lang, rng))
    return pairs
