"""`python main.py nlu parse` and `python main.py nlu test FILE`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import IO, Any

from dialogs.nlu.data import EVAL_DIR, load_yaml
from dialogs.nlu.service import NLUService


def parse_stream(stdin: IO[str], stdout: IO[str], service: NLUService | None = None) -> int:
    """Read JSON lines {"text", "lang"?} and write one parse per line. A malformed line gets
    {"error": ...} in its place; the exit code is 1 if any line was malformed."""
    nlu = service or NLUService()
    status = 0
    for line in stdin:
        if not line.strip():
            continue
        try:
            item: Any = json.loads(line)
            text = item["text"]
            lang = item.get("lang")
            if not isinstance(text, str) or (lang is not None and not isinstance(lang, str)):
                raise TypeError("text must be a string")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            stdout.write(json.dumps({"error": f"bad input line: {exc}"}) + "\n")
            status = 1
            continue
        stdout.write(json.dumps(nlu.parse(text, lang), ensure_ascii=False) + "\n")
    stdout.flush()
    return status


def _lang_of(path: Path) -> str | None:
    for part in (path.stem, *path.parts):
        for lang in ("ru", "en"):
            if part == lang or part.endswith(f"_{lang}") or part.startswith(f"{lang}_"):
                return lang
    return None


def evaluate(path: Path, service: NLUService) -> dict[str, Any]:
    """Accuracy and per-intent precision/recall/F1 on a Rasa NLU YAML file."""
    lang = _lang_of(path)
    examples = load_yaml(path)
    gold_counts: Counter[str] = Counter()
    pred_counts: Counter[str] = Counter()
    hits: Counter[str] = Counter()
    errors: list[tuple[str, str, str]] = []
    for ex in examples:
        predicted = service.parse(ex.text, lang)["intent"]["name"]
        gold_counts[ex.intent] += 1
        pred_counts[predicted] += 1
        if predicted == ex.intent:
            hits[ex.intent] += 1
        else:
            errors.append((ex.text, ex.intent, predicted))
    per_intent = {}
    for intent in sorted(gold_counts | pred_counts):
        p = hits[intent] / pred_counts[intent] if pred_counts[intent] else 0.0
        r = hits[intent] / gold_counts[intent] if gold_counts[intent] else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        per_intent[intent] = {"precision": p, "recall": r, "f1": f1, "support": gold_counts[intent]}
    total = len(examples)
    return {
        "file": str(path),
        "examples": total,
        "accuracy": sum(hits.values()) / total if total else 0.0,
        "per_intent": per_intent,
        "errors": errors,
    }


def default_test_paths() -> list[Path]:
    return sorted(EVAL_DIR.glob("heldout_*.yml"))


def run_test(path: Path | None, stdout: IO[str], service: NLUService | None = None) -> int:
    """Print accuracy and per-intent P/R/F1 for a file (or a directory of them; None = the
    shipped held-out set). 0 when evaluated, 2 when there was nothing to evaluate."""
    nlu = service or NLUService()
    if path is None:
        paths = default_test_paths()
    elif path.is_dir():
        paths = sorted(path.glob("*.yml"))
    else:
        paths = [path] if path.exists() else []
    if not paths:
        stdout.write(f"nlu test: no evaluation data at {path}\n")
        return 2
    for p in paths:
        result = evaluate(p, nlu)
        stdout.write(f"{result['file']}: {result['examples']} examples\n")
        stdout.write(f"accuracy: {result['accuracy']:.3f}\n")
        stdout.write(f"{'intent':<20} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>4}\n")
        for intent, m in result["per_intent"].items():
            stdout.write(
                f"{intent:<20} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f} "
                f"{m['support']:>4}\n"
            )
        stdout.write("\n")
    stdout.flush()
    return 0
