"""The NLU entry point: language, intent, entities in Rasa's parse shape."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import pickle
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Final

from dialogs.nlu import language
from dialogs.nlu.classifier import IntentClassifier
from dialogs.nlu.data import data_hash, training_path, training_set
from dialogs.nlu.entities import TariffMatcher, extract
from dialogs.nlu.rasa_backend import CircuitBreaker, RasaNLUBackend, RasaUnavailable

log = logging.getLogger(__name__)

OUT_OF_SCOPE: Final = "out_of_scope"
MAX_CHARS: Final = 2000  # longer messages are cut: the intent is in the first lines anyway
RANKING_SIZE: Final = 10
_CODE_VERSION: Final = "1"


def _code_hash() -> str:
    h = hashlib.sha256(_CODE_VERSION.encode())
    here = Path(__file__).resolve().parent
    for name in ("classifier.py", "features.py", "data.py"):
        h.update((here / name).read_bytes())
    return h.hexdigest()[:12]


def default_cache_dir() -> Path:
    return Path(
        os.environ.get("NLU_CACHE_DIR") or Path(tempfile.gettempdir()) / "provider-desk-nlu"
    )


def load_classifier(lang: str, cache_dir: Path | None = None) -> IntentClassifier:
    """Train from locales/<lang>/nlu.yml, or load the model cached under the data's hash.
    The cache is our own file in our own directory, so unpickling it is safe."""
    key = f"{lang}-{data_hash([training_path(lang)])}-{_code_hash()}.pickle"
    path = (cache_dir or default_cache_dir()) / key
    if path.exists():
        try:
            with path.open("rb") as fh:
                model = pickle.load(fh)  # noqa: S301
            if isinstance(model, IntentClassifier):
                return model
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            log.warning("nlu cache %s unreadable; retraining", path)
    model = IntentClassifier.train(lang, training_set(lang))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            pickle.dump(model, fh, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    except OSError:
        log.warning("nlu cache %s not writable", path)
    return model


class NLUService:
    """parse(text, lang=None) -> {"text", "intent", "entities", "intent_ranking"}.

    Thread-safe for reads; `set_tariff_names` swaps the matcher atomically."""

    def __init__(
        self,
        *,
        tariff_names: Iterable[str] = (),
        threshold: float = 0.2,
        default_lang: str = "ru",
        rasa: RasaNLUBackend | None = None,
        rasa_threshold: float = 0.6,
        breaker: CircuitBreaker | None = None,
        today: Callable[[], dt.date] = dt.date.today,
        cache_dir: Path | None = None,
    ) -> None:
        self.threshold = threshold
        self.default_lang = default_lang
        self.rasa = rasa
        self.rasa_threshold = rasa_threshold
        self.breaker = breaker or CircuitBreaker()
        self.today = today
        self.cache_dir = cache_dir
        self._tariffs = TariffMatcher(tariff_names)
        self._models: dict[str, IntentClassifier] = {}
        self._lock = threading.Lock()

    @property
    def tariff_names(self) -> list[str]:
        return list(self._tariffs.names)

    def set_tariff_names(self, names: Iterable[str]) -> None:
        self._tariffs = TariffMatcher(names)

    def model(self, lang: str) -> IntentClassifier:
        model = self._models.get(lang)
        if model is None:
            with self._lock:
                model = self._models.get(lang)
                if model is None:
                    model = load_classifier(lang, self.cache_dir)
                    self._models[lang] = model
        return model

    def warm_up(self) -> None:
        for lang in language.SUPPORTED:
            self.model(lang)

    def detect_language(self, text: str) -> tuple[str, float]:
        return language.detect(text, self.default_lang)

    def parse(self, text: str, lang: str | None = None) -> dict[str, Any]:
        """The local classifier's parse. Never raises on any text."""
        text = text if isinstance(text, str) else ""
        cut = text[:MAX_CHARS]
        lang_confidence = 1.0
        if lang not in language.SUPPORTED:
            lang, lang_confidence = self.detect_language(cut)
        if not any(ch.isalnum() for ch in cut) or lang_confidence < 0.3:
            # Emoji only, punctuation only, or a script/language we do not read.
            ranking: list[tuple[str, float]] = [(OUT_OF_SCOPE, 1.0 - lang_confidence)]
        else:
            ranking = self.model(lang).rank(cut)
        name, confidence = ranking[0]
        if confidence < self.threshold:
            name = OUT_OF_SCOPE
        entities = extract(cut, intent=name, today=self.today(), tariffs=self._tariffs)
        return {
            "text": text,
            "intent": {"name": name, "confidence": round(confidence, 4)},
            "entities": entities,
            "intent_ranking": [
                {"name": n, "confidence": round(c, 4)} for n, c in ranking[:RANKING_SIZE]
            ],
            "language": lang,
        }

    async def aparse(self, text: str, lang: str | None = None) -> dict[str, Any]:
        """Rasa first when configured, the local classifier on timeout, 5xx, low confidence
        or an open circuit."""
        local = self.parse(text, lang)
        if self.rasa is None or not self.breaker.allow() or not text.strip():
            return local
        try:
            remote = await self.rasa.parse(text[:MAX_CHARS])
        except RasaUnavailable as exc:
            self.breaker.failure()
            log.warning("rasa nlu unavailable (%s); local classifier used", exc)
            return local
        self.breaker.success()
        if remote["intent"]["confidence"] < self.rasa_threshold:
            return local
        remote["text"] = text
        remote["language"] = local["language"]
        have = {e["entity"] for e in remote["entities"]}
        # Rasa models often lack our rule-based entities (amounts, periods): add the missing.
        remote["entities"] += [e for e in local["entities"] if e["entity"] not in have]
        remote["entities"].sort(key=lambda e: (e["start"], e["end"]))
        return remote
