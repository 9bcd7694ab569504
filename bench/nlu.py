"""NLU parse latency (p50/p99) beside a bare keyword match of the same texts, and the
start-up cost (training without cache, loading with cache). Run: .venv/bin/python -m bench.nlu"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

from dialogs.nlu.data import EVAL_DIR, load_yaml
from dialogs.nlu.service import NLUService

KEYWORDS = re.compile(r"баланс|balance|тариф|tariff|интернет|internet|оператор|operator")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> None:
    texts = [e.text for p in sorted(EVAL_DIR.glob("*.yml")) for e in load_yaml(p)]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        NLUService(cache_dir=Path(tmp)).warm_up()
        cold = time.perf_counter() - t
        t = time.perf_counter()
        service = NLUService(cache_dir=Path(tmp), tariff_names=["Турбо 500", "Домашний 100"])
        service.warm_up()
        warm = time.perf_counter() - t
    print(f"start-up: train {cold:.2f} s, from cache {warm:.2f} s")
    for label, fn in (("keyword regex (baseline)", KEYWORDS.search), ("nlu parse", service.parse)):
        lat = []
        for _ in range(5):
            for text in texts:
                t = time.perf_counter()
                fn(text)
                lat.append((time.perf_counter() - t) * 1000)
        print(f"{label:<26} n={len(lat)} p50={pct(lat, 0.5):.3f} ms p99={pct(lat, 0.99):.3f} ms")


if __name__ == "__main__":
    main()
