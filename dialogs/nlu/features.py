"""Text normalisation, transliteration and the sparse features of the classifier."""

from __future__ import annotations

import itertools
import re
from typing import Final

_PUNCT = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACES = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")

# Latin -> Cyrillic for transliterated Russian; longest sequences first.
_DETRANSLIT: Final = [
    ("shch", "щ"),
    ("sch", "щ"),
    ("yo", "ё"),
    ("zh", "ж"),
    ("kh", "х"),
    ("ch", "ч"),
    ("sh", "ш"),
    ("ts", "ц"),
    ("yu", "ю"),
    ("ya", "я"),
    ("ye", "е"),
    ("iy", "ий"),
    ("yy", "ый"),
    ("ij", "ий"),
    ("a", "а"),
    ("b", "б"),
    ("v", "в"),
    ("g", "г"),
    ("d", "д"),
    ("e", "е"),
    ("z", "з"),
    ("i", "и"),
    ("j", "й"),
    ("k", "к"),
    ("l", "л"),
    ("m", "м"),
    ("n", "н"),
    ("o", "о"),
    ("p", "п"),
    ("r", "р"),
    ("s", "с"),
    ("t", "т"),
    ("u", "у"),
    ("f", "ф"),
    ("h", "х"),
    ("c", "ц"),
    ("w", "в"),
    ("x", "кс"),
    ("q", "к"),
    ("y", "ы"),
    ("'", "ь"),
]
_DETRANSLIT_RE = re.compile("|".join(re.escape(k) for k, _ in _DETRANSLIT))
_DETRANSLIT_MAP: Final = dict(_DETRANSLIT)

_TRANSLIT_MAP: Final = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "yo",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "y",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "sch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
}


def to_cyrillic(text: str) -> str:
    """Best-effort reading of Latin-script Russian ("ne rabotaet" -> "не работает")."""
    return _DETRANSLIT_RE.sub(lambda m: _DETRANSLIT_MAP[m.group(0)], text.lower())


def to_latin(text: str) -> str:
    return "".join(_TRANSLIT_MAP.get(ch, ch) for ch in text.lower())


def normalize(text: str, lang: str) -> str:
    """Lower case, no punctuation, ё -> е, digits collapsed; Latin words in Russian text are
    read as transliteration."""
    t = text.lower().replace("ё", "е")
    t = _PUNCT.sub(" ", t)
    t = _DIGITS.sub("0", t)
    t = _SPACES.sub(" ", t).strip()
    if lang == "ru" and re.search(r"[a-z]", t):
        t = " ".join(to_cyrillic(w) if w.isascii() else w for w in t.split(" "))
        t = t.replace("ё", "е")
    return t


def features(norm: str) -> dict[str, float]:
    """Words, 5-letter word stems (a cheap stemmer that covers Russian endings), word bigrams
    and character 2-4-grams inside word boundaries; binary, not yet weighted."""
    out: dict[str, float] = {}
    words = norm.split()
    for w in words:
        out["w:" + w] = 1.0
        if len(w) > 5:
            out["s:" + w[:5]] = 1.0
        padded = f" {w} "
        n = len(padded)
        for size in (2, 3, 4):
            for i in range(n - size + 1):
                out["c:" + padded[i : i + size]] = 1.0
    for a, b in itertools.pairwise(words):
        out["b:" + a[:5] + "_" + b[:5]] = 1.0
    if not words:
        out["empty"] = 1.0
    return out
