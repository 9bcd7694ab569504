from __future__ import annotations

import datetime as dt

import pytest

from dialogs.nlu.service import NLUService


@pytest.fixture(scope="session")
def nlu() -> NLUService:
    service = NLUService(
        tariff_names=["Турбо 500", "Домашний 100", "Гигабит"],
        today=lambda: dt.date(2026, 11, 26),
    )
    service.warm_up()
    return service
