"""PDF rendering of customer documents with fpdf2 and the DejaVu fonts shipped in ./fonts.

This module knows layout, not business: `generate.py` builds a `PdfDocument` out of
already-localised strings and `render()` turns it into bytes. Output is deterministic (the
creation date is the document's own date and the file id is derived from the content), so the
same data renders to the same SHA-256 and a regeneration can be recognised as unchanged.

The fonts ship with the code (DejaVu covers Cyrillic, "₽" and "№"); nothing depends on fonts
installed on the machine that renders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Literal

from fpdf import FPDF
from fpdf.enums import TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace

FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FAMILY = "DejaVu"
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"

# A4 portrait, millimetres.
MARGIN = 15.0
PAGE_WIDTH = 210.0
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN

_TEXT = 9.0
_SMALL = 7.5
_MUTED = (90, 90, 90)
_RULE = (150, 150, 150)
_HEAD_FILL = (232, 236, 241)

Align = Literal["L", "C", "R"]


# --- formatting ------------------------------------------------------------------------------

_CURRENCY_SIGNS = {"RUB": "₽"}


def _locale(locale: str | None) -> str:
    short = (locale or "ru").split("-")[0].split("_")[0].lower()
    return "en" if short == "en" else "ru"


def format_money(amount: int, currency: str, locale: str | None) -> str:
    """Integer minor units as people read them: ru "1 234,56 ₽", en "RUB 1,234.56".

    Never takes floats: a float has already lost kopecks somewhere."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amount must be an integer number of minor units")
    sign = "-" if amount < 0 else ""
    whole, minor = divmod(abs(amount), 100)
    if _locale(locale) == "en":
        return f"{sign}{currency} {whole:,}.{minor:02d}"
    grouped = f"{whole:,}".replace(",", " ")
    return f"{sign}{grouped},{minor:02d} {_CURRENCY_SIGNS.get(currency, currency)}"


def format_date(day: date, locale: str | None) -> str:
    """ru "01.11.2026"; en ISO "2026-11-01" (unambiguous for readers on either side)."""
    if _locale(locale) == "en":
        return day.isoformat()
    return f"{day:%d.%m.%Y}"


# --- the document model ----------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    """The provider's block at the top of the first page."""

    name: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Title:
    text: str
    subtitle: str | None = None


@dataclass(frozen=True)
class Section:
    text: str


@dataclass(frozen=True)
class Fields:
    """Label/value pairs, labels in a fixed-width column."""

    items: tuple[tuple[str, str], ...]
    label_width: float = 45.0


@dataclass(frozen=True)
class Paragraph:
    text: str
    bold: bool = False
    small: bool = False


@dataclass(frozen=True)
class Column:
    title: str
    width: float  # relative; the table always spans the content width
    align: Align = "L"


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    rows: tuple[tuple[str, ...], ...]
    # (label, value) rows under the table: the label spans every column but the last, so the
    # values line up with the amounts above them.
    totals: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Signatures:
    """Two signature slots side by side: (role, name) each."""

    left: tuple[str, str]
    right: tuple[str, str]


Block = Title | Section | Fields | Paragraph | Table | Signatures


@dataclass(frozen=True)
class PdfDocument:
    title: str  # the PDF's metadata title
    language: str
    issued: date  # the document's date; also its creation date, for reproducible bytes
    header: Header
    blocks: tuple[Block, ...]
    # Footer text; "{page}" and "{pages}" are replaced by the page number and the page count.
    footer: str = ""
    author: str = ""


# --- rendering -------------------------------------------------------------------------------

_PAGES_ALIAS = "{nb}"


class _Pdf(FPDF):
    footer_text: str = ""

    def footer(self) -> None:
        if not self.footer_text:
            return
        self.set_y(-12)
        self.set_font(FONT_FAMILY, "", _SMALL)
        self.set_text_color(*_MUTED)
        text = self.footer_text.replace("{page}", str(self.page_no()))
        self.cell(0, 5, text.replace("{pages}", _PAGES_ALIAS), align="C")
        self.set_text_color(0, 0, 0)


def render(document: PdfDocument) -> bytes:
    """The PDF bytes of `document`; identical input gives identical bytes."""
    pdf = _Pdf(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(datetime.combine(document.issued, time(0), UTC))
    pdf.set_producer("provider-desk")
    pdf.set_creator("provider-desk")
    pdf.set_title(document.title)
    pdf.set_lang(document.language)
    if document.author:
        pdf.set_author(document.author)
    pdf.add_font(FONT_FAMILY, "", str(FONT_REGULAR))
    pdf.add_font(FONT_FAMILY, "B", str(FONT_BOLD))
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.alias_nb_pages(_PAGES_ALIAS)
    pdf.footer_text = document.footer
    pdf.add_page()
    _header(pdf, document.header)
    for block in document.blocks:
        _block(pdf, block)
    return bytes(pdf.output())


def _font(pdf: FPDF, size: float = _TEXT, bold: bool = False) -> None:
    pdf.set_font(FONT_FAMILY, "B" if bold else "", size)


def _header(pdf: FPDF, header: Header) -> None:
    _font(pdf, 11, bold=True)
    pdf.multi_cell(CONTENT_WIDTH, 5.5, header.name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _font(pdf, _SMALL)
    pdf.set_text_color(*_MUTED)
    for line in header.lines:
        pdf.multi_cell(CONTENT_WIDTH, 3.8, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.3)
    pdf.line(MARGIN, pdf.get_y(), PAGE_WIDTH - MARGIN, pdf.get_y())
    pdf.ln(5)


def _block(pdf: FPDF, block: Block) -> None:
    if isinstance(block, Title):
        _title(pdf, block)
    elif isinstance(block, Section):
        pdf.ln(2)
        _font(pdf, 10, bold=True)
        pdf.multi_cell(CONTENT_WIDTH, 5.5, block.text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)
    elif isinstance(block, Fields):
        _fields(pdf, block)
    elif isinstance(block, Paragraph):
        _font(pdf, _SMALL if block.small else _TEXT, bold=block.bold)
        height = 3.8 if block.small else 4.6
        pdf.multi_cell(
            CONTENT_WIDTH, height, block.text, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        pdf.ln(1.5)
    elif isinstance(block, Table):
        _table(pdf, block)
    else:
        _signatures(pdf, block)


def _title(pdf: FPDF, title: Title) -> None:
    _font(pdf, 13, bold=True)
    pdf.multi_cell(CONTENT_WIDTH, 6.5, title.text, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if title.subtitle:
        _font(pdf, _TEXT)
        pdf.multi_cell(
            CONTENT_WIDTH, 5, title.subtitle, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    pdf.ln(4)


def _fields(pdf: FPDF, fields: Fields) -> None:
    value_width = CONTENT_WIDTH - fields.label_width
    for label, value in fields.items:
        # Keep a label and its value on one page.
        if pdf.will_page_break(4.8):
            pdf.add_page()
        top = pdf.get_y()
        _font(pdf, _TEXT)
        pdf.set_text_color(*_MUTED)
        pdf.multi_cell(fields.label_width - 2, 4.8, label, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        label_bottom = pdf.get_y()
        pdf.set_text_color(0, 0, 0)
        pdf.set_xy(MARGIN + fields.label_width, top)
        pdf.multi_cell(value_width, 4.8, value or "—", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_y(max(pdf.get_y(), label_bottom))
    pdf.ln(3)


def _table(pdf: FPDF, table: Table) -> None:
    _font(pdf, 8)
    pdf.set_draw_color(*_RULE)
    pdf.set_line_width(0.2)
    headings = FontFace(emphasis="BOLD", fill_color=_HEAD_FILL)
    total_style = FontFace(emphasis="BOLD")
    span = len(table.columns) - 1
    with pdf.table(
        width=CONTENT_WIDTH,
        col_widths=tuple(c.width for c in table.columns),
        headings_style=headings,
        line_height=4.4,
        padding=(1.2, 1.5, 1.2, 1.5),
        borders_layout=TableBordersLayout.ALL,
        v_align="MIDDLE",
        repeat_headings=1,
    ) as grid:
        head = grid.row()
        for column in table.columns:
            head.cell(column.title, align=column.align)
        for values in table.rows:
            row = grid.row()
            for column, value in zip(table.columns, values, strict=True):
                row.cell(value, align=column.align)
        for label, value in table.totals:
            row = grid.row(style=total_style)
            row.cell(label, align="R", colspan=span)
            row.cell(value, align="R")
    pdf.ln(4)


def _signatures(pdf: FPDF, signatures: Signatures) -> None:
    gap = 10.0
    width = (CONTENT_WIDTH - gap) / 2
    slots = (signatures.left, signatures.right)
    _font(pdf, _TEXT)
    name_lines = max(_line_count(pdf, width, name) for _, name in slots)
    height = 4.8 * (1 + name_lines) + 14
    # The two slots (and their lines) never split across pages.
    if pdf.will_page_break(height + 6):
        pdf.add_page()
    pdf.ln(6)
    top = pdf.get_y()
    line_y = top + height - 4
    for index, (role, name) in enumerate(slots):
        x = MARGIN + index * (width + gap)
        pdf.set_xy(x, top)
        _font(pdf, _TEXT, bold=True)
        pdf.multi_cell(width, 4.8, role, new_x=XPos.LEFT, new_y=YPos.NEXT)
        _font(pdf, _TEXT)
        pdf.multi_cell(width, 4.8, name, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_draw_color(0, 0, 0)
        pdf.set_line_width(0.2)
        pdf.line(x, line_y, x + width * 0.8, line_y)
    pdf.set_y(top + height)


def _line_count(pdf: FPDF, width: float, text: str) -> int:
    lines = pdf.multi_cell(width, 4.8, text, dry_run=True, output="LINES")
    return len(lines) if isinstance(lines, list) else 1
