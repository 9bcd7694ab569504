"""Rendering Outbound items to Bot API calls, and the request middleware: the real aiogram Bot
over HTTP to the Telegram Bot API stand-in, which records what arrived (method, decoded params,
uploaded files). A 429 honoured through the dispatcher is in tests/bot/test_robustness.py."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from backend.documents.storage import DocumentStorage
from backend.i18n import t
from backend.state import Resources
from bot.factory import create_bot
from bot.keyboards import PayloadTooLong, callback_data
from bot.render import MAX_MESSAGE_CHARS, send_outbound, split_text
from dialogs.types import Button, DocumentOut, HandoverNotice, PaymentRequest, Text, payload
from tests.factories import make_customer, make_document
from tests.support.telegram_standin import TelegramStandIn

CHAT = 1001


@pytest.fixture
async def desk_bot(resources: Resources, telegram: TelegramStandIn) -> AsyncIterator[Bot]:
    """The production Bot (bot.factory.create_bot: pacing and 429 middlewares) at the stand-in."""
    settings = resources.settings.model_copy(
        update={
            "telegram_bot_token": SecretStr(telegram.token),
            "telegram_api_base": telegram.base_url,
        }
    )
    bot = create_bot(settings)
    try:
        yield bot
    finally:
        await bot.session.close()


def _keyboard(params: dict[str, object]) -> list[list[tuple[str, str]]]:
    markup = params["reply_markup"]
    assert isinstance(markup, dict)
    return [[(b["text"], b["callback_data"]) for b in row] for row in markup["inline_keyboard"]]


async def test_text_with_buttons_is_sent_with_an_inline_keyboard(
    bot: Bot, telegram: TelegramStandIn, resources: Resources
) -> None:
    menu = payload("nav", "menu")
    pay = payload("top_up", "start")
    item = Text("Баланс 350 ₽", buttons=((Button("Пополнить", pay),), (Button("Меню", menu),)))

    await send_outbound(bot, CHAT, [item], resources=resources)

    [sent] = telegram.calls()
    assert sent.method == "sendMessage" and sent.status == 200
    assert sent.params["chat_id"] == CHAT and sent.params["text"] == "Баланс 350 ₽"
    assert _keyboard(sent.params) == [[("Пополнить", pay)], [("Меню", menu)]]


async def test_a_menu_is_edited_in_place_and_later_items_are_new_messages(
    bot: Bot, telegram: TelegramStandIn, resources: Resources
) -> None:
    pressed = await bot.send_message(CHAT, "Старое меню")
    menu = payload("nav", "menu")
    items = [Text("Меню", buttons=((Button("A", menu),),)), Text("ещё")]

    await send_outbound(bot, CHAT, items, resources=resources, edit_message_id=pressed.message_id)

    edited = telegram.last("editMessageText")
    assert edited.status == 200
    assert edited.params["message_id"] == pressed.message_id and edited.params["text"] == "Меню"
    assert _keyboard(edited.params) == [[("A", menu)]]
    assert [c.method for c in telegram.calls()] == ["sendMessage", "editMessageText", "sendMessage"]
    assert telegram.sent_texts(CHAT) == ["Старое меню", "Меню", "ещё"]
    assert telegram.messages[(CHAT, pressed.message_id)]["text"] == "Меню"


async def test_the_same_menu_pressed_twice_changes_nothing(
    bot: Bot, telegram: TelegramStandIn, resources: Resources
) -> None:
    item = Text("Меню", buttons=((Button("A", payload("nav", "menu")),),))
    await send_outbound(bot, CHAT, [item], resources=resources)
    shown = telegram.last("sendMessage").params

    message_id = max(m for (chat, m) in telegram.messages if chat == CHAT)
    await send_outbound(bot, CHAT, [item], resources=resources, edit_message_id=message_id)

    # Telegram refuses the identical edit (400 "message is not modified"); no duplicate is sent
    [edit] = telegram.calls("editMessageText")
    assert edit.status == 400 and edit.params["text"] == shown["text"]
    assert len(telegram.calls("sendMessage")) == 1


async def test_a_menu_that_cannot_be_edited_is_sent_anew(
    bot: Bot, telegram: TelegramStandIn, resources: Resources
) -> None:
    await send_outbound(bot, CHAT, [Text("Меню")], resources=resources, edit_message_id=999)

    [edit] = telegram.calls("editMessageText")
    assert edit.status == 400  # message to edit not found (deleted, too old)
    [sent] = telegram.calls("sendMessage")
    assert sent.status == 200 and sent.params["text"] == "Меню"


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
    bot: Bot, telegram: TelegramStandIn, resources: Resources
) -> None:
    text = ("строка " * 100 + "\n") * 12  # about 8 500 characters
    item = Text(text, buttons=((Button("Меню", payload("nav", "menu")),),))

    await send_outbound(bot, CHAT, [item], resources=resources)

    sent = telegram.calls("sendMessage")
    assert len(sent) == 3
    assert all(c.status == 200 for c in sent)  # the stand-in refuses texts over 4096 characters
    assert all(len(c.params["text"]) <= MAX_MESSAGE_CHARS for c in sent)
    assert ["reply_markup" in c.params for c in sent] == [False, False, True]
    assert "\n".join(c.params["text"] for c in sent) == text.rstrip("\n")


async def test_document_is_uploaded_with_the_stored_bytes(
    bot: Bot, telegram: TelegramStandIn, resources: Resources, session: AsyncSession
) -> None:
    content = b"%PDF-1.4 the contract"
    _, customer = await make_customer(session)
    document = await make_document(session, customer, content=content)
    await session.commit()
    path = DocumentStorage(resources.settings.documents_dir).path_for(document.storage_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)

    item = DocumentOut(document.id, "contract.pdf", caption="Ваш договор")
    await send_outbound(bot, CHAT, [item], resources=resources)

    [sent] = telegram.calls()
    assert sent.method == "sendDocument" and sent.status == 200
    assert sent.params["chat_id"] == CHAT and sent.params["caption"] == "Ваш договор"
    upload = sent.files["document"]  # a multipart file part, not a file_id or URL
    assert upload.content == content and upload.filename == "contract.pdf"


async def test_a_damaged_document_is_explained_not_sent(
    bot: Bot, telegram: TelegramStandIn, resources: Resources, session: AsyncSession
) -> None:
    _, customer = await make_customer(session)
    document = await make_document(session, customer)  # no file written
    await session.commit()

    await send_outbound(bot, CHAT, [DocumentOut(document.id, "a.pdf")], resources=resources)

    assert telegram.calls("sendDocument") == []
    assert telegram.sent_texts(CHAT) == [t("error-document-corrupted", "ru")]


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
    bot: Bot, telegram: TelegramStandIn, resources: Resources
) -> None:
    with_token = dataclasses.replace(
        resources,
        settings=resources.settings.model_copy(
            update={"telegram_payments_provider_token": SecretStr("provider-123")}
        ),
    )

    await send_outbound(bot, CHAT, [_invoice_request()], resources=with_token)

    assert [c.method for c in telegram.calls()] == ["sendMessage", "sendInvoice"]
    invoice = telegram.last("sendInvoice")
    assert invoice.status == 200 and invoice.params["chat_id"] == CHAT
    assert invoice.params["provider_token"] == "provider-123"
    assert invoice.params["payload"] == "topup:pub-1" and invoice.params["currency"] == "RUB"
    assert invoice.params["prices"] == [{"label": "Пополнение", "amount": 150000}]
    assert telegram.sent_texts(CHAT) == ["Счёт на 1500 ₽"]


async def test_payment_link_without_a_provider_token(
    bot: Bot, telegram: TelegramStandIn, resources: Resources
) -> None:
    assert resources.settings.telegram_payments_provider_token is None
    item = PaymentRequest(
        "pub-2", 50000, "RUB", confirmation_url="https://pay.example/p/2", text="Оплатите"
    )

    await send_outbound(bot, CHAT, [item], resources=resources)

    assert telegram.calls("sendInvoice") == []
    [sent] = telegram.calls("sendMessage")
    assert sent.params["text"] == "Оплатите"
    [[button]] = sent.params["reply_markup"]["inline_keyboard"]
    assert button == {"text": t("payments-checkout-pay", "ru"), "url": "https://pay.example/p/2"}


async def test_handover_notice_is_a_plain_text(
    bot: Bot, telegram: TelegramStandIn, resources: Resources
) -> None:
    await send_outbound(
        bot, CHAT, [HandoverNotice("agent", "Оператор подключился")], resources=resources
    )
    [sent] = telegram.calls()
    assert sent.method == "sendMessage" and sent.params["text"] == "Оператор подключился"
    assert "reply_markup" not in sent.params


async def test_a_long_flood_ban_is_not_slept_through(
    desk_bot: Bot, telegram: TelegramStandIn
) -> None:
    telegram.fail_next("sendMessage", status=429, retry_after=3600)

    with pytest.raises(TelegramRetryAfter) as caught:
        await desk_bot.send_message(CHAT, "x")

    assert caught.value.retry_after == 3600
    [call] = telegram.calls()
    assert call.method == "sendMessage" and call.status == 429
