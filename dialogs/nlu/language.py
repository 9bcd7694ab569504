"""Language detection for short chat messages: Cyrillic vs Latin, with transliterated Russian
("ne rabotaet internet") recognised as Russian and Latin text in a third language marked as
unsure. Short texts defeat statistical detectors, so this is a script count plus two small
lexicons."""

from __future__ import annotations

import re
from typing import Final

SUPPORTED: Final = ("ru", "en")

_WORD = re.compile(r"[a-zа-яё']+")

# Words that only appear in Latin-script Russian (volapuk); common ones from ISP chats.
_TRANSLIT: Final = frozenset(
    [
        "ne",
        "net",
        "da",
        "ya",
        "mne",
        "menya",
        "u",
        "vas",
        "nas",
        "kak",
        "chto",
        "cho",
        "che",
        "pochemu",
        "kogda",
        "gde",
        "skolko",
        "skoka",
        "hochu",
        "hochy",
        "nado",
        "nuzhno",
        "nuzhen",
        "nuzhna",
        "pomogite",
        "pomosh",
        "pomogi",
        "rabotaet",
        "rabotayet",
        "internet",
        "interneta",
        "inet",
        "ineta",
        "balans",
        "balanse",
        "schet",
        "scheta",
        "schete",
        "schetu",
        "dengi",
        "deneg",
        "bablo",
        "privet",
        "privetik",
        "zdravstvuyte",
        "zdravstvuite",
        "zdrasti",
        "poka",
        "spasibo",
        "spasibki",
        "spasib",
        "sps",
        "tarif",
        "tarify",
        "tarifa",
        "smenit",
        "pomenyat",
        "podklyuchit",
        "podkluchit",
        "podklyuchenie",
        "oplatit",
        "oplata",
        "popolnit",
        "popolnenie",
        "zayavka",
        "zayavku",
        "zayavki",
        "status",
        "mastera",
        "master",
        "operator",
        "operatora",
        "chelovek",
        "cheloveka",
        "dogovor",
        "akt",
        "kvitanciya",
        "kvitantsiyu",
        "skorost",
        "medlenniy",
        "medlenno",
        "tormozit",
        "propal",
        "propalo",
        "otklyuchili",
        "obeshanniy",
        "obeshannyy",
        "obeshchannyj",
        "platezh",
        "platezhi",
        "platej",
        "istoriya",
        "zamorozit",
        "priostanovit",
        "uslugi",
        "uslugu",
        "moi",
        "moy",
        "moya",
        "tolko",
        "uzhe",
        "eshe",
        "esche",
        "segodnya",
        "vchera",
        "zavtra",
        "mesyac",
        "oktyabr",
        "noyabr",
        "sentyabr",
        "rublei",
        "rubley",
        "rub",
        "tysyachu",
        "tyshu",
        "ok",
    ]
)
_ENGLISH: Final = frozenset(
    [
        "the",
        "a",
        "an",
        "is",
        "are",
        "am",
        "i",
        "my",
        "me",
        "you",
        "your",
        "to",
        "of",
        "for",
        "and",
        "or",
        "in",
        "on",
        "at",
        "it",
        "this",
        "that",
        "what",
        "how",
        "why",
        "when",
        "where",
        "do",
        "does",
        "did",
        "not",
        "no",
        "yes",
        "can",
        "could",
        "would",
        "should",
        "will",
        "with",
        "from",
        "have",
        "has",
        "be",
        "been",
        "please",
        "hi",
        "hello",
        "hey",
        "thanks",
        "thank",
        "bye",
        "want",
        "need",
        "internet",
        "balance",
        "pay",
        "plan",
        "tariff",
        "ticket",
        "money",
        "account",
        "help",
        "agent",
        "operator",
        "human",
        "slow",
        "down",
        "working",
        "status",
        "invoice",
        "contract",
        "receipt",
        "act",
        "switch",
        "change",
        "top",
        "up",
        "cancel",
        "ok",
        "okay",
        "sure",
        "nope",
        "yeah",
        "yep",
    ]
)
# "internet", "operator", "status", "ok" are shared: they count for both.


def detect(text: str, default: str = "ru") -> tuple[str, float]:
    """(language, confidence). Unknown scripts and unrecognised Latin text give the default
    language with a low confidence, so the caller can treat the message as out of scope."""
    cyr = lat = other = 0
    for ch in text:
        if not ch.isalpha():
            continue
        if "а" <= ch.lower() <= "я" or ch in "ёЁ":
            cyr += 1
        elif ch.isascii():
            lat += 1
        else:
            other += 1
    letters = cyr + lat + other
    if letters == 0:
        return default, 0.0
    if cyr >= lat and cyr >= other:
        return "ru", round(0.5 + 0.5 * cyr / letters, 3)
    if other > lat:
        return default, 0.1
    words = _WORD.findall(text.lower())
    ru_hits = sum(1 for w in words if w in _TRANSLIT)
    en_hits = sum(1 for w in words if w in _ENGLISH)
    if ru_hits > en_hits:
        return "ru", round(min(0.95, 0.5 + 0.15 * (ru_hits - en_hits)), 3)
    if en_hits > 0:
        return "en", round(min(0.99, 0.6 + 0.1 * en_hits), 3)
    if _looks_translit(words):
        return "ru", 0.55
    return "en" if default == "en" else default, 0.2


_TRANSLIT_SHAPES = re.compile(r"(zh|kh|sch|shch|ts|yu|ya|iy|yy|ij)")


def _looks_translit(words: list[str]) -> bool:
    hits = sum(1 for w in words if _TRANSLIT_SHAPES.search(w))
    return bool(words) and hits * 2 >= len(words)
