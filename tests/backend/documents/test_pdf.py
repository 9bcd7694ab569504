from __future__ import annotations

import hashlib
import io
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from pypdf import PdfReader

from backend.documents import pdf
from backend.documents.pdf import format_date, format_money
from tests.backend.documents.helpers import pdf_text

# --- money and dates ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "ru", "en"),
    [
        (123456, "1 234,56 ₽", "RUB 1,234.56"),
        (0, "0,00 ₽", "RUB 0.00"),
        (5, "0,05 ₽", "RUB 0.05"),
        (60000, "600,00 ₽", "RUB 600.00"),
        (-5, "-0,05 ₽", "-RUB 0.05"),
        (-123456, "-1 234,56 ₽", "-RUB 1,234.56"),
        (100_000_000_00, "100 000 000,00 ₽", "RUB 100,000,000.00"),
        (99, "0,99 ₽", "RUB 0.99"),
        (100, "1,00 ₽", "RUB 1.00"),
    ],
)
def test_format_money_per_locale(amount, ru, en):
    assert format_money(amount, "RUB", "ru") == ru
    assert format_money(amount, "RUB", "en") == en


def test_format_money_locale_variants_and_other_currencies():
    assert format_money(123456, "RUB", "ru-RU") == "1 234,56 ₽"
    assert format_money(123456, "RUB", "en_GB") == "RUB 1,234.56"
    # Anything unknown reads the Russian way (the provider's default locale).
    assert format_money(123456, "RUB", None) == "1 234,56 ₽"
    assert format_money(123456, "USD", "ru") == "1 234,56 USD"
    assert format_money(123456, "USD", "en") == "USD 1,234.56"


@pytest.mark.parametrize("amount", [12.5, 1234.0, Decimal("12.50"), "100", True, None])
def test_format_money_takes_integer_minor_units_only(amount):
    with pytest.raises(TypeError):
        format_money(amount, "RUB", "ru")


def test_format_date_per_locale():
    assert format_date(date(2026, 3, 7), "ru") == "07.03.2026"
    assert format_date(date(2026, 3, 7), "en") == "2026-03-07"


# --- rendering ------------------------------------------------------------------------------


def _document(**overrides: Any) -> pdf.PdfDocument:
    values: dict[str, Any] = {
        "title": "Акт за ноябрь 2026",
        "language": "ru",
        "issued": date(2026, 11, 30),
        "header": pdf.Header("ООО «Провайдер»", ("ИНН 7700000000", "Москва")),
        "blocks": (
            pdf.Title("Акт оказанных услуг № 1", "от 30.11.2026"),
            pdf.Fields((("Абонент", "Иванов Иван Иванович"), ("Договор", "12345"))),
            pdf.Section("Оказанные услуги"),
            pdf.Table(
                columns=(
                    pdf.Column("Услуга", 120),
                    pdf.Column("Кол-во", 20, "R"),
                    pdf.Column("Сумма", 40, "R"),
                ),
                rows=(("Доступ в интернет «Дом 300»", "30", "600,00 ₽"),),
                totals=(("Итого", "600,00 ₽"),),
            ),
            pdf.Paragraph("Услуги оказаны полностью."),
            pdf.Signatures(("Оператор", "ООО «Провайдер»"), ("Абонент", "Иванов Иван Иванович")),
        ),
        "footer": "Акт · страница {page} из {pages}",
    }
    values.update(overrides)
    return pdf.PdfDocument(**values)


def test_render_gives_a_pdf_with_cyrillic_text():
    data = pdf.render(_document())

    assert data.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    assert reader.metadata is not None
    assert reader.metadata.title == "Акт за ноябрь 2026"
    text = pdf_text(data)
    for expected in (
        "ООО «Провайдер»",
        "Иванов Иван Иванович",
        "Доступ в интернет «Дом 300»",
        "600,00 ₽",
        "Акт оказанных услуг № 1",
        "страница 1 из 1",
    ):
        assert expected in text
    assert "{page" not in text
    assert "{nb}" not in text


def test_render_embeds_the_shipped_fonts():
    data = pdf.render(_document())
    reader = PdfReader(io.BytesIO(data))
    fonts = set()
    resources: Any = reader.pages[0]["/Resources"]
    for font in resources["/Font"].values():
        obj = font.get_object()
        fonts.add(str(obj["/BaseFont"]))
        descendant = obj["/DescendantFonts"][0].get_object()
        # Embedded (FontFile2), so a reader without DejaVu installed shows the same glyphs.
        assert "/FontFile2" in descendant["/FontDescriptor"]
    assert any("DejaVuSans" in f and "Bold" not in f for f in fonts)
    assert any("DejaVuSans-Bold" in f or "DejaVuSansBold" in f for f in fonts)


def test_fonts_and_their_licence_ship_with_the_code():
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "LICENSE"):
        assert (pdf.FONT_DIR / name).is_file()
    assert "Bitstream" in (pdf.FONT_DIR / "LICENSE").read_text()


def test_same_input_renders_the_same_bytes():
    first = pdf.render(_document())
    second = pdf.render(_document())
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()


def test_changed_input_renders_other_bytes():
    base = pdf.render(_document())
    assert pdf.render(_document(issued=date(2026, 12, 1))) != base
    assert pdf.render(_document(title="Акт за декабрь 2026")) != base


def test_creation_date_is_the_document_date():
    reader = PdfReader(io.BytesIO(pdf.render(_document(issued=date(2026, 2, 28)))))
    assert reader.metadata is not None
    assert str(reader.metadata["/CreationDate"]).startswith("D:20260228000000")


def test_long_tables_continue_on_new_pages_with_numbers():
    rows = tuple((f"Услуга {n}", "1", f"{n},00 ₽") for n in range(120))
    table = pdf.Table(
        columns=(pdf.Column("Услуга", 120), pdf.Column("Кол-во", 20), pdf.Column("Сумма", 40)),
        rows=rows,
        totals=(("Итого", "7 140,00 ₽"),),
    )
    data = pdf.render(_document(blocks=(table,)))
    reader = PdfReader(io.BytesIO(data))
    pages = len(reader.pages)
    assert pages > 1
    last = reader.pages[-1].extract_text()
    assert f"страница {pages} из {pages}" in last
    assert "Услуга 119" in last
    assert "7 140,00 ₽" in last
    # The column headings repeat on every page.
    assert all("Кол-во" in page.extract_text() for page in reader.pages)


def test_long_values_wrap_instead_of_overflowing():
    name = "Константинопольский-Старокрымский " * 6
    data = pdf.render(
        _document(blocks=(pdf.Fields((("Абонент", name.strip()),)), pdf.Paragraph(name * 5)))
    )
    text = pdf_text(data).replace("\n", " ")
    assert text.count("Константинопольский-Старокрымский") >= 36
