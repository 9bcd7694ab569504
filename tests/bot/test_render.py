"""Rendering Outbound items to Bot API calls, and the request middleware.

These use `RecordingSession` (aiogram's MockedSession idea: the real Bot and methods, no HTTP).
TODO(stand-in): test_document_is_uploaded_with_the_stored_bytes and
test_retry_after_is_honoured should move to tests/support/telegram_standin.py once it lands,
to cover multipart encoding and real 429 bodies."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import (
    EditMessageText,
    SendDocument,
    SendInvoice,
    SendMessage,
    TelegramMethod,
)
from aiogram.types import BufferedInputFile, Chat, InlineKeyboardMarkup, Message
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from backend.config import Settings
from backend.documents.storage import DocumentStorage
from backend.state import Resources
from bot.factory import create_bot
from bot.keyboards import PayloadTooLong, callback_data
from bot.render import MAX_MESSAGE_CHARS, send_outbound, split_text
from dialogs.types import Button, DocumentOut, HandoverNotice, PaymentRequest, Text, payload
from tests.factories import make_customer, make_document

TOKEN = "42:TEST-token"
CHAT = 1001


class RecordingSession(BaseSession):
    """Records every method the Bot calls and answers with a plausible result. `fail` queues
    exceptions per method class (raised in order, one per call); `updates` feeds getUpdates."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.failures: dict[type[TelegramMethod[Any]], list[Exception]] = {}
        self.updates: list[list[Any]] = []
        self._message_id = 100

    def fail(self, method: type[TelegramMethod[Any]], error: Exception) -> None:
        self.failures.setdefault(method, []).append(error)

    def of(self, method: type[TelegramMethod[Any]]) -> list[Any]:
        return [r for r in self.requests if isinstance(r, method)]

    async def close(self) -> None:
        pass

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[Any],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> Any:
        self.requests.append(method)
        pending = self.failures.get(type(method))
        if pending:
            raise pending.pop(0)
        name = type(method).__name__
        if name == "GetUpdates":
            return self.updates.pop(0) if self.updates else []
        if name in ("SendMessage", "EditMessageText", "SendDocument", "SendInvoice"):
            self._message_id += 1
            chat_id = int(getattr(method, "chat_id", 0) or 0)
            return Message(
                message_id=self._message_id,
                date=dt.datetime.now(dt.UTC),
                chat=Chat(id=chat_id, type="private"),
                text=getattr(method, "text", None),
            )
        return True

    async def stream_content(
        self,
        url: str,
        headers: dict[str, Any] | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - aiogram's signature
        chunk_size: int = 65536,
        raise_for_status: bool = True,
    ) -> AsyncGenerator[bytes, None]:
        yield b""


def bot_settings(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(update={"telegram_bot_token": SecretStr(TOKEN), **overrides})


@pytest.fixture
def rec() -> RecordingSession:
    return RecordingSession()


@pytest.fixture
async def rec_bot(settings: Settings, rec: RecordingSession) -> AsyncIterator[Bot]:
    bot = create_bot(bot_settings(settings), session=rec)
    yield bot
    await bot.session.close()


async def test_text_with_buttons_is_sent_with_an_inline_keyboard(
    rec_bot: Bot, rec: RecordingSession, resources: Resources
) -> None:
    menu = payload("nav", "menu")
    pay = payload("top_up", "start")
    item = Text("Баланс 350 ₽", buttons=((Button("Пополнить", pay),), (Button("Меню", menu),)))

    await send_outbound(rec_bot, CHAT, [item], resources=resources)

    [sent] = rec.of(SendMessage)
    assert sent.chat_id == CHAT and sent.text == "Баланс 350 ₽"
    assert isinstance(sent.reply_markup, InlineKeyboardMarkup)
    rows = [[(b.text, b.callback_data) for b in row] for row in sent.reply_markup.inline_keyboard]
    assert rows == [[("Пополнить", pay)], [("Меню", menu)]]


async def test_a_menu_is_edited_in_place_and_later_items_are_new_messages(
    rec_bot: Bot, rec: RecordingSession, resources: Resources
) -> None:
    items = [Text("Меню", buttons=((Button("A", payload("nav", "menu")),),)), Text("ещё")]

    await send_outbound(rec_bot, CHAT, items, resources=resources, edit_message_id=55)

    [edited] = rec.of(EditMessageText)
    assert edited.message_id == 55 and edited.text == "Меню" and edited.reply_markup is not None
    assert [m.text for m in rec.of(SendMessage)] == ["ещё"]


def test_callback_data_over_64_bytes_is_refused() -> None:
    assert callback_data("v1:nav:menu:") == "v1:nav:menu:"
    with pytest.raises(PayloadTooLong):
        callback_data("я" * 33)  # 66 bytes
    with pytest.raises(PayloadTooLong):
        callback_data("")


def test_split_text_cuts_at_line_ends_within_the_limit() -> None:
    line = "x" * 1000 + "\n"
    text = line * 10  # 10 010 characters
    chunks = split_text(text)
    assert all(len(c) <= MAX_MESSAGE_CHARS for c in chunks)
    assert len(chunks) == 3
    assert all(set(c.split("\n")) == {"x" * 1000} for c in chunks)  # no line was cut
    assert "".join(c + "\n" for c in chunks) == text
    long_line = "y" * (MAX_MESSAGE_CHARS + 10)
    assert split_text(long_line) == ["y" * MAX_MESSAGE_CHARS, "y" * 10]


async def test_a_long_text_is_sent_in_parts_with_the_buttons_on_the_last(
    rec_bot: Bot, rec: RecordingSession, resources: Resources
) -> None:
    text = ("строка " * 100 + "\n") * 12  # about 8 500 characters
    item = Text(text, buttons=((Button("Меню", payload("nav", "menu")),),))

    await send_outbound(rec_bot, CHAT, [item], resources=resources)

    sent = rec.of(SendMessage)
    assert len(sent) == 3
    assert all(len(m.text) <= MAX_MESSAGE_CHARS for m in sent)
    assert [m.reply_markup is not None for m in sent] == [False, False, True]


async def test_document_is_uploaded_with_the_stored_bytes(
    rec_bot: Bot, rec: RecordingSession, resources: Resources, session: AsyncSession
) -> None:
    content = b"%PDF-1.4 the contract"
    _, customer = await make_customer(session)
    document = await make_document(session, customer, content=content)
    await session.commit()
    path = DocumentStorage(resources.settings.documents_dir).path_for(document.storage_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)

    item = DocumentOut(document.id, "contract.pdf", caption="Ваш договор")
    await send_outbound(rec_bot, CHAT, [item], resources=resources)

    [sent] = rec.of(SendDocument)
    assert isinstance(sent.document, BufferedInputFile)
    assert sent.document.data == content and sent.document.filename == "contract.pdf"
    assert sent.caption == "Ваш договор"


async def test_a_damaged_document_is_explained_not_sent(
    rec_bot: Bot, rec: RecordingSession, resources: Resources, session: AsyncSession
) -> None:
    _, customer = await make_customer(session)
    document = await make_document(session, customer)  # no file written
    await session.commit()

    await send_outbound(rec_bot, CHAT, [DocumentOut(document.id, "a.pdf")], resources=resources)

    assert rec.of(SendDocument) == []
    [sent] = rec.of(SendMessage)
    assert "поврежд" in sent.text


def _invoice_request() -> PaymentRequest:
    return PaymentRequest(
        payment_public_id="pub-1",
        amount=150000,
        currency="RUB",
        telegram={
            "payment_id": "pub-1",
            "title": "Пополнение баланса",
            "description": "Оплата услуг связи",
            "payload": "topup:pub-1",
            "currency": "RUB",
            "prices": [{"label": "Пополнение", "amount": 150000}],
        },
        text="Счёт на 1500 ₽",
    )


async def test_payment_request_becomes_an_invoice_with_the_provider_token(
    rec_bot: Bot, rec: RecordingSession, resources: Resources
) -> None:
    with_token = dataclasses.replace(
        resources,
        settings=resources.settings.model_copy(
            update={"telegram_payments_provider_token": SecretStr("provider-123")}
        ),
    )

    await send_outbound(rec_bot, CHAT, [_invoice_request()], resources=with_token)

    [invoice] = rec.of(SendInvoice)
    assert invoice.provider_token == "provider-123"
    assert invoice.payload == "topup:pub-1" and invoice.currency == "RUB"
    assert [(p.label, p.amount) for p in invoice.prices] == [("Пополнение", 150000)]
    assert [m.text for m in rec.of(SendMessage)] == ["Счёт на 1500 ₽"]


async def test_payment_link_without_a_provider_token(
    rec_bot: Bot, rec: RecordingSession, resources: Resources
) -> None:
    assert resources.settings.telegram_payments_provider_token is None
    item = PaymentRequest(
        "pub-2", 50000, "RUB", confirmation_url="https://pay.example/p/2", text="Оплатите"
    )

    await send_outbound(rec_bot, CHAT, [item], resources=resources)

    assert rec.of(SendInvoice) == []
    [sent] = rec.of(SendMessage)
    assert sent.text == "Оплатите"
    [[button]] = sent.reply_markup.inline_keyboard
    assert button.url == "https://pay.example/p/2" and button.text == "Оплатить"


async def test_handover_notice_is_a_plain_text(
    rec_bot: Bot, rec: RecordingSession, resources: Resources
) -> None:
    await send_outbound(
        rec_bot, CHAT, [HandoverNotice("agent", "Оператор подключился")], resources=resources
    )
    [sent] = rec.of(SendMessage)
    assert sent.text == "Оператор подключился" and sent.reply_markup is None


async def test_retry_after_is_honoured(rec_bot: Bot, rec: RecordingSession) -> None:
    probe = SendMessage(chat_id=CHAT, text="x")
    rec.fail(SendMessage, TelegramRetryAfter(probe, "Too Many Requests", retry_after=0))

    sent = await rec_bot.send_message(CHAT, "после паузы")

    assert sent.text == "после паузы"
    assert len(rec.of(SendMessage)) == 2  # the 429, then the retry


async def test_a_long_flood_ban_is_not_slept_through(rec_bot: Bot, rec: RecordingSession) -> None:
    probe = SendMessage(chat_id=CHAT, text="x")
    rec.fail(SendMessage, TelegramRetryAfter(probe, "Too Many Requests", retry_after=3600))

    with pytest.raises(TelegramRetryAfter):
        await rec_bot.send_message(CHAT, "x")
    assert len(rec.of(SendMessage)) == 1
