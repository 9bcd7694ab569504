"""The texts of the outage notices as the worker renders them from the payloads written here."""

from __future__ import annotations

import pytest

from notifications.events import EVENTS
from notifications.render import Renderer


@pytest.mark.parametrize(
    ("locale", "with_eta", "without_eta"),
    [
        ("ru", "OLT-7. Ориентир 01.03.2026 19:00.", "OLT-7. Уже устраняем"),
        ("en", "OLT-7. Expected fix by 2026-03-01 19:00.", "OLT-7. We are already fixing it"),
    ],
)
def test_the_start_notice_names_the_expected_fix_when_known(
    settings, locale, with_eta, without_eta
):
    notice = EVENTS["outage.started"]
    renderer = Renderer()
    payload = {"customer_id": 1, "outage_id": 3, "title": "OLT-7"}
    known = notice.args(
        {**payload, "expected_fix_at": "2026-03-01T16:00:00+00:00"}, settings, locale
    )
    unknown = notice.args({**payload, "expected_fix_at": None}, settings, locale)
    assert with_eta in renderer.render(notice.template, known, locale).text
    text = renderer.render(notice.template, unknown, locale)
    assert without_eta in text.text and text.subject
