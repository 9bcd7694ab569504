"""Rule-based entity extraction: amount, tariff, document_type, period, ticket_id.

Spans are offsets into the text as given, as in Rasa's parse output."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Final

from dialogs.nlu.features import to_cyrillic, to_latin

Entity = dict[str, Any]

# ---- ticket_id -------------------------------------------------------------------------------
_TICKET = re.compile(
    r"(?:№|#|\bномер\w*|\bзаявк\w*|\bтикет\w*|\bобращени\w*|\bticket|\brequest|\bzayavk\w*)"
    r"\s*(?:№|#|no\.?|number|номер|n)?\s*(\d{1,10})\b",
    re.IGNORECASE,
)


def ticket_ids(text: str) -> list[Entity]:
    return [
        {"entity": "ticket_id", "value": m.group(1), "start": m.start(1), "end": m.end(1)}
        for m in _TICKET.finditer(text)
    ]


# ---- amount ----------------------------------------------------------------------------------
_RU_NUM: Final = {
    "один": 1, "одну": 1, "два": 2, "две": 2, "три": 3, "четыре": 4, "пять": 5, "шесть": 6,
    "семь": 7, "восемь": 8, "девять": 9, "десять": 10, "двадцать": 20, "тридцать": 30,
    "сорок": 40, "пятьдесят": 50, "шестьдесят": 60, "семьдесят": 70, "восемьдесят": 80,
    "девяносто": 90, "сто": 100, "двести": 200, "триста": 300, "четыреста": 400,
    "пятьсот": 500, "шестьсот": 600, "семьсот": 700, "восемьсот": 800, "девятьсот": 900,
    "полторы": 1.5, "полтора": 1.5, "пару": 2,
    "one": 1, "a": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_HUNDRED = {"hundred": 100, "hundreds": 100}
_THOUSAND_WORD = re.compile(r"^(тыщ\w*|тыс\w*|thousand\w*|косар\w*|штук\w*)$")
_THOUSAND_SUFFIX = re.compile(r"^(к|k|тыс\.?|тыщ\w*|тысяч\w*|thousand|косар\w*)$", re.I)
_NUMBER = re.compile(
    r"(?<![\d#№])(\d{1,3}(?:[ \u00a0]\d{3})+|\d+)(?:[.,]\d{1,2})?"
    r"(?:\s?(к|k|тыс\.?|тыщ\w*|тысяч\w*|thousand)\b)?",
    re.IGNORECASE,
)
_NOT_MONEY_AFTER = re.compile(
    r"^\s*(мбит|мегабит|мб|mb|mbps|mbit|гб|gb|gbps|гбит|дн|день|дня|дней|day|days|недел|week|"
    r"мин|minute|час|hour|раз|times|год|year|месяц|month|числ|%|[-./:]\d|"
    r"январ|феврал|март|апрел|ма[йяе]|июн|июл|август|сентябр|октябр|ноябр|декабр|"
    r"jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|этаж|кв|подъезд|дом)",
    re.IGNORECASE,
)
_NOT_MONEY_BEFORE = re.compile(
    r"(ошибк\w*|error|улиц\w*|ул\.?|street|st\.?|дом|house|кв\.?|apt|пинг|ping|за|in|"
    r"скорост\w*|speed|каждые|every|через|in|до|until|с|from|№|#|номер|заявк\w*|тикет\w*|"
    r"ticket|request|обращени\w*|спидтест|speedtest|на|to)\s*$",
    re.IGNORECASE,
)
_MONEY_AFTER = re.compile(r"^\s*(р\b|р\.|руб|₽|rub|roubles?|rubles?|рубл)", re.IGNORECASE)
_MONEY_BEFORE = re.compile(
    r"(пополн\w*|оплат\w*|закин\w*|кин\w*|полож\w*|внес\w*|внест\w*|заплат\w*|"
    r"top up|pay|add|deposit|recharge|put|сумм\w*|списали|сняли|charged?|списани\w*|"
    r"долг\w*|loan)(\s+[^\s\d]+){0,2}?\s*(на|по|of|with|by)?\s*$",
    re.IGNORECASE,
)


def _digits_value(raw: str, suffix: str | None) -> int:
    # Decimal, not float: "4.35к" must be 4350, not 4349
    value = Decimal(re.sub(r"[ \u00a0]", "", raw).replace(",", "."))
    if suffix:
        value *= 1000
    return int(value)


def amounts(text: str, exclude: list[tuple[int, int]]) -> list[Entity]:
    found: list[Entity] = []
    for m in _NUMBER.finditer(text):
        start, end = m.start(), m.end()
        if any(s <= start < e for s, e in exclude):
            continue
        after = text[end : end + 12]
        before = text[max(0, start - 40) : start]
        strong = bool(m.group(2)) or bool(_MONEY_AFTER.match(after))
        if not strong:
            if _NOT_MONEY_AFTER.match(after):
                continue
            if _NOT_MONEY_BEFORE.search(before) and not _MONEY_BEFORE.search(before):
                continue
        money = _MONEY_AFTER.match(after)
        if money:
            end += money.end()
        value = _digits_value(m.group(1), m.group(2))
        if value <= 0:
            continue
        found.append({"entity": "amount", "value": value, "start": start, "end": end})
    found.extend(_word_amounts(text, exclude))
    return found


_WORD_TOKEN = re.compile(r"[a-zа-яё]+", re.IGNORECASE)


def _word_amounts(text: str, exclude: list[tuple[int, int]]) -> list[Entity]:
    """ "полторы тыщи", "тыщу", "две тысячи", "five hundred", "a thousand"."""
    out: list[Entity] = []
    tokens = [(m.group(0).lower(), m.start(), m.end()) for m in _WORD_TOKEN.finditer(text)]
    i = 0
    while i < len(tokens):
        total = 0.0
        current = 0.0
        j = i
        used = False
        while j < len(tokens):
            word = tokens[j][0]
            if word in _RU_NUM and not (word == "a" and used):
                if word == "a" and (
                    j + 1 >= len(tokens) or tokens[j + 1][0] not in ("thousand", "hundred")
                ):
                    break
                current += _RU_NUM[word]
            elif word in _HUNDRED and used:
                current = (current or 1) * 100
            elif word == "and" and used:
                pass
            elif _THOUSAND_WORD.match(word):
                total += (current or 1) * 1000
                current = 0
            else:
                break
            used = True
            j += 1
        value = int(total + current)
        is_money = (
            total > 0
            or (j - i >= 2 and value >= 50)
            or (value >= 100 and j > i and _MONEY_AFTER.match(text[tokens[j - 1][2] :]))
        )
        if used and is_money and not any(s <= tokens[i][1] < e for s, e in exclude):
            out.append({
                "entity": "amount", "value": value, "start": tokens[i][1], "end": tokens[j - 1][2],
            })  # fmt: skip
            i = j
        else:
            i += 1
    return out


# ---- document_type ---------------------------------------------------------------------------
_DOCS: Final = [
    (re.compile(r"\b(сч[её]т[-\s]фактур\w*|квитанц\w*|чек\w*|invoices?|bills?|receipts?|"
                r"schet\w*|kvitanc\w*)\b", re.I), "invoice"),
    (re.compile(r"\b(акт|акты|акта|актов|acts?|certificate of completion|akt\w*)\b", re.I), "act"),
    (re.compile(r"\b(договор\w*|contracts?|agreement|dogovor\w*)\b", re.I), "contract"),
]  # fmt: skip
# "счёт" is also the account ("деньги на счёте"): only a document where the intent says so.
_SCHET = re.compile(r"\b(сч[её]т|сч[её]та|счета|сч[её]ты)\b", re.I)


def document_types(text: str, intent: str | None) -> list[Entity]:
    out: list[Entity] = []
    for pattern, value in _DOCS:
        for m in pattern.finditer(text):
            out.append(
                {"entity": "document_type", "value": value, "start": m.start(), "end": m.end()}
            )
    if intent == "get_documents" and not out:
        for m in _SCHET.finditer(text):
            out.append({"entity": "document_type", "value": "invoice",
                        "start": m.start(), "end": m.end()})  # fmt: skip
    return out


# ---- period ----------------------------------------------------------------------------------
_MONTHS: Final = [
    (r"январ\w*|january|jan", 1), (r"феврал\w*|february|feb", 2), (r"март\w*|march|mar", 3),
    (r"апрел\w*|april|apr", 4), (r"ма[йяе]|may", 5), (r"июн\w*|june|jun", 6),
    (r"июл\w*|july|jul", 7), (r"август\w*|august|aug", 8),
    (r"сентябр\w*|september|sept?", 9), (r"октябр\w*|october|oct|oktyabr\w*", 10),
    (r"ноябр\w*|november|nov|noyabr\w*", 11), (r"декабр\w*|december|dec", 12),
]  # fmt: skip
_MONTH_RE = re.compile(
    r"\b(" + "|".join(f"(?P<m{n}>{p})" for p, n in _MONTHS) + r")\b(?:\s+(?P<year>20\d\d))?",
    re.IGNORECASE,
)
_RELATIVE = re.compile(
    r"\b(?P<before>позапрошл\w+\s+месяц\w*)|(?P<last>прошл\w+\s+месяц\w*|last month|"
    r"previous month)|(?P<this>(?:этот|этом|этого|текущ\w+)\s+месяц\w*|this month|"
    r"current month)\b",
    re.IGNORECASE,
)
_ISO = re.compile(r"\b(20\d\d)-(0[1-9]|1[0-2])\b|\b(0[1-9]|1[0-2])[./](20\d\d)\b")


def _shift(today: dt.date, months: int) -> str:
    index = today.year * 12 + today.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def periods(text: str, today: dt.date) -> list[Entity]:
    out: list[Entity] = []
    for m in _ISO.finditer(text):
        year, month = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        out.append({"entity": "period", "value": f"{year}-{month}",
                    "start": m.start(), "end": m.end()})  # fmt: skip
    for m in _MONTH_RE.finditer(text):
        month = next(n for _, n in _MONTHS if m.group(f"m{n}"))
        if m.group("year"):
            year = int(m.group("year"))
        else:
            # A month without a year is the latest one not in the future: bills are past.
            year = today.year if month <= today.month else today.year - 1
        out.append({"entity": "period", "value": f"{year:04d}-{month:02d}",
                    "start": m.start(), "end": m.end()})  # fmt: skip
    for m in _RELATIVE.finditer(text):
        shift = -2 if m.group("before") else -1 if m.group("last") else 0
        out.append({"entity": "period", "value": _shift(today, shift),
                    "start": m.start(), "end": m.end()})  # fmt: skip
    return out


# ---- tariff ----------------------------------------------------------------------------------
_TOKEN = re.compile(r"\w+", re.UNICODE)


class TariffMatcher:
    """Fuzzy matching of tariff names in either script ("турбо", "turbo", "Турбо 500")."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self.names: list[str] = []
        self._forms: list[tuple[str, list[str]]] = []
        self.update(names)

    def update(self, names: Iterable[str]) -> None:
        names = [n for n in dict.fromkeys(n.strip() for n in names) if n]
        forms: list[tuple[str, list[str]]] = []
        for name in names:
            low = name.lower().replace("ё", "е")
            variants = {low, to_latin(low), to_cyrillic(low).replace("ё", "е")}
            forms.append((name, sorted(variants)))
        self.names = names
        self._forms = forms

    def find(self, text: str) -> list[Entity]:
        if not self._forms:
            return []
        tokens = [(m.group(0).lower().replace("ё", "е"), m.start(), m.end())
                  for m in _TOKEN.finditer(text)]  # fmt: skip
        best: list[Entity] = []
        taken: set[int] = set()
        # Full names first (longest first), then a unique distinctive first word.
        candidates = sorted(self._forms, key=lambda f: -len(f[0]))
        for name, variants in candidates:
            for variant in variants:
                parts = variant.split()
                hit = self._match(tokens, parts, taken)
                if hit:
                    i, j = hit
                    taken.update(range(i, j))
                    best.append({"entity": "tariff", "value": name,
                                 "start": tokens[i][1], "end": tokens[j - 1][2]})  # fmt: skip
                    break
        if not best:
            firsts: dict[str, list[str]] = {}
            for name, variants in self._forms:
                for variant in variants:
                    first = variant.split()[0]
                    if len(first) >= 4 and not first.isdigit():
                        firsts.setdefault(first, []).append(name)
            for first, owners in firsts.items():
                if len(set(owners)) != 1:
                    continue
                hit = self._match(tokens, [first], taken)
                if hit:
                    i, j = hit
                    taken.update(range(i, j))
                    best.append({"entity": "tariff", "value": owners[0],
                                 "start": tokens[i][1], "end": tokens[j - 1][2]})  # fmt: skip
        return best

    @staticmethod
    def _match(
        tokens: list[tuple[str, int, int]], parts: list[str], taken: set[int]
    ) -> tuple[int, int] | None:
        n = len(parts)
        for i in range(len(tokens) - n + 1):
            if any(k in taken for k in range(i, i + n)):
                continue
            if all(_similar(tokens[i + k][0], parts[k]) for k in range(n)):
                return i, i + n
        return None


def _similar(word: str, target: str) -> bool:
    if word == target:
        return True
    if word.isdigit() or target.isdigit() or len(target) < 4 or len(word) < 3:
        return False
    if word[0] != target[0]:
        return False
    # Russian endings ("домашнем" for "домашний") and one or two typos.
    common = len(_common_prefix(word, target))
    if common >= max(4, len(target) - 3) and abs(len(word) - len(target)) <= 3:
        return True
    return difflib.SequenceMatcher(None, word, target).ratio() >= 0.8


def _common_prefix(a: str, b: str) -> str:
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return a[:i]


def extract(
    text: str, *, intent: str | None, today: dt.date, tariffs: TariffMatcher
) -> list[Entity]:
    """Every entity found in text, ordered by position; overlapping amounts give way."""
    ents: list[Entity] = []
    tickets = ticket_ids(text)
    ents.extend(tickets)
    dates = periods(text, today)
    ents.extend(dates)
    tariff_hits = tariffs.find(text)
    ents.extend(tariff_hits)
    blocked = [(e["start"], e["end"]) for e in tickets + dates + tariff_hits]
    ents.extend(amounts(text, blocked))
    ents.extend(document_types(text, intent))
    ents.sort(key=lambda e: (e["start"], e["end"]))
    return ents
