"""The Telegram Bot API stand-in against the real aiogram Bot and AiohttpSession."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    Update,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tests.support.telegram_standin import TelegramStandIn, Upload, all_factory_updates

CHAT = 5001


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Баланс", callback_data="menu:balance")]]
    )


async def test_send_message_records_inline_keyboard(bot: Bot, telegram: TelegramStandIn) -> None:
    sent = await bot.send_message(CHAT, "Главное меню", reply_markup=keyboard())

    assert sent.chat.id == CHAT and sent.text == "Главное меню"
    assert sent.from_user is not None and sent.from_user.is_bot
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "menu:balance"
    call = telegram.last("sendMessage")
    assert call.params["chat_id"] == CHAT
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Баланс", "callback_data": "menu:balance"}]]
    }
    assert telegram.sent_texts(CHAT) == ["Главное меню"]


async def test_text_that_looks_like_json_stays_text(bot: Bot, telegram: TelegramStandIn) -> None:
    await bot.send_message(CHAT, "123")

    assert telegram.last("sendMessage").params["text"] == "123"


async def test_edit_delete_and_not_modified(bot: Bot, telegram: TelegramStandIn) -> None:
    sent = await bot.send_message(CHAT, "Меню", reply_markup=keyboard())

    edited = await bot.edit_message_text(
        text="Баланс: 100 ₽", chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard()
    )
    assert isinstance(edited, Message) and edited.text == "Баланс: 100 ₽"
    assert edited.edit_date is not None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            text="Баланс: 100 ₽", chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard()
        )
    cleared = await bot.edit_message_reply_markup(chat_id=CHAT, message_id=sent.message_id)
    assert isinstance(cleared, Message) and cleared.reply_markup is None
    assert await bot.delete_message(CHAT, sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(CHAT, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=CHAT, message_id=999)


async def test_answer_document_is_multipart_and_downloadable(
    bot: Bot, telegram: TelegramStandIn
) -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    anchor = await bot.send_message(CHAT, "Ваши документы")

    sent = await anchor.answer_document(
        BufferedInputFile(pdf, filename="invoice-7.pdf"), caption="Счёт №7"
    )

    call = telegram.last("sendDocument")
    assert call.params["document"].startswith("attach://")
    assert call.params["caption"] == "Счёт №7"
    upload = call.files["document"]
    assert upload == Upload("invoice-7.pdf", pdf, "application/octet-stream")
    assert sent.document is not None
    assert sent.document.file_name == "invoice-7.pdf" and sent.document.file_size == len(pdf)
    assert sent.caption == "Счёт №7"
    downloaded = await bot.download(sent.document.file_id)
    assert downloaded is not None and downloaded.read() == pdf
    # resending by file_id uploads nothing
    again = await bot.send_document(CHAT, sent.document.file_id)
    assert again.document is not None and again.document.file_id == sent.document.file_id
    assert telegram.last("sendDocument").files == {}


async def test_send_photo_and_chat_action(bot: Bot, telegram: TelegramStandIn) -> None:
    assert await bot.send_chat_action(CHAT, "upload_document") is True
    sent = await bot.send_photo(CHAT, BufferedInputFile(b"\xff\xd8jpeg", filename="qr.jpg"))

    assert sent.photo is not None and sent.photo[-1].file_size == 6
    assert telegram.last("sendPhoto").files["photo"].content == b"\xff\xd8jpeg"
    assert telegram.last("sendChatAction").params["action"] == "upload_document"


async def test_user_photo_is_downloadable(bot: Bot, telegram: TelegramStandIn) -> None:
    update = Update.model_validate(telegram.photo(CHAT, content=b"router-photo"))

    assert update.message is not None and update.message.photo is not None
    downloaded = await bot.download(update.message.photo[-1].file_id)
    assert downloaded is not None and downloaded.read() == b"router-photo"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_invoice_and_pre_checkout(bot: Bot, telegram: TelegramStandIn) -> None:
    sent = await bot.send_invoice(
        CHAT,
        title="Пополнение",
        description="Пополнение баланса",
        payload="topup:abc",
        currency="RUB",
        prices=[LabeledPrice(label="Пополнение", amount=50_000)],
        provider_token="381764678:TEST:1",
    )
    assert sent.invoice is not None
    assert (sent.invoice.currency, sent.invoice.total_amount) == ("RUB", 50_000)
    assert telegram.last("sendInvoice").params["prices"] == [
        {"label": "Пополнение", "amount": 50_000}
    ]
    assert telegram.invoices[-1]["payload"] == "topup:abc"

    raw = telegram.pre_checkout_query(CHAT, "topup:abc", "RUB", 50_000)
    query = Update.model_validate(raw, context={"bot": bot}).pre_checkout_query
    assert isinstance(query, PreCheckoutQuery)
    assert await query.answer(ok=True) is True
    assert telegram.pre_checkout_answers[query.id]["ok"] is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await query.answer(ok=True)


async def test_invoice_without_provider_token_is_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="PAYMENT_PROVIDER_INVALID"):
        await bot.send_invoice(
            CHAT,
            title="t",
            description="d",
            payload="p",
            currency="RUB",
            prices=[LabeledPrice(label="x", amount=100)],
        )


async def test_callback_query_is_answered_once(bot: Bot, telegram: TelegramStandIn) -> None:
    await bot.send_message(CHAT, "Меню", reply_markup=keyboard())
    raw = telegram.callback_query(CHAT, "menu:balance")
    query = Update.model_validate(raw, context={"bot": bot}).callback_query
    assert query is not None and query.message is not None
    assert isinstance(query.message, Message)
    assert query.message.reply_markup is not None  # the bot's own message with its keyboard

    assert await query.answer() is True
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await query.answer()


async def test_commands_per_language(bot: Bot, telegram: TelegramStandIn) -> None:
    ru = [BotCommand(command="balance", description="Баланс")]
    en = [BotCommand(command="balance", description="Balance")]
    scope = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands(ru, scope=scope, language_code="ru")
    await bot.set_my_commands(en, scope=scope, language_code="en")

    got_ru = await bot.get_my_commands(scope=scope, language_code="ru")
    got_en = await bot.get_my_commands(scope=scope, language_code="en")
    assert [(c.command, c.description) for c in got_ru] == [("balance", "Баланс")]
    assert [(c.command, c.description) for c in got_en] == [("balance", "Balance")]
    assert await bot.get_my_commands() == []
    assert telegram.commands_for("en", {"type": "all_private_chats"}) == [
        {"command": "balance", "description": "Balance"}
    ]
    assert await bot.delete_my_commands(scope=scope, language_code="en") is True
    assert await bot.get_my_commands(scope=scope, language_code="en") == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])


def echo_router() -> Router:
    router = Router()

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    return router


async def test_polling_echo(bot: Bot, telegram: TelegramStandIn) -> None:
    dp = Dispatcher()
    dp.include_router(echo_router())
    polling = asyncio.create_task(dp.start_polling(bot, polling_timeout=1, handle_signals=False))
    try:
        await telegram.wait_for("getUpdates")  # the loop is idle in a long poll
        telegram.queue_update(telegram.message(CHAT, "привет"))
        replies = await telegram.wait_for("sendMessage")
    finally:
        await dp.stop_polling()
        await polling

    assert replies[0].params == {"chat_id": CHAT, "text": "echo: привет"}
    assert telegram.pending_updates == []  # confirmed by the next offset
    assert telegram.allowed_updates == ["message"]


async def test_get_updates_offset_limit_and_long_poll(bot: Bot, telegram: TelegramStandIn) -> None:
    first = telegram.queue_update(telegram.message(CHAT, "1"))
    second = telegram.queue_update(telegram.message(CHAT, "2"))

    got = await bot.get_updates(limit=1)
    assert [u.update_id for u in got] == [first["update_id"]]
    got = await bot.get_updates(offset=first["update_id"] + 1)
    assert [u.update_id for u in got] == [second["update_id"]]
    assert [u["update_id"] for u in telegram.pending_updates] == [second["update_id"]]

    loop = asyncio.get_running_loop()
    started = loop.time()
    waiting = asyncio.create_task(bot.get_updates(offset=second["update_id"] + 1, timeout=5))
    await asyncio.sleep(0.2)
    third = telegram.queue_update(telegram.message(CHAT, "3"))
    got = await waiting
    assert [u.update_id for u in got] == [third["update_id"]]
    assert loop.time() - started < 2  # returned when the update arrived, not at the timeout

    started = loop.time()
    assert await bot.get_updates(offset=third["update_id"] + 1, timeout=1) == []
    assert loop.time() - started >= 0.9


async def test_second_poller_terminates_the_first(bot: Bot, telegram: TelegramStandIn) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    newer = asyncio.create_task(bot.get_updates(timeout=1))

    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await older
    assert await newer == []


async def test_webhook_blocks_get_updates(bot: Bot, telegram: TelegramStandIn) -> None:
    await bot.set_webhook(
        "https://desk.example/telegram/webhook",
        secret_token="s3cret_token",
        allowed_updates=["message", "callback_query"],
    )
    assert telegram.webhook is not None
    assert telegram.webhook.secret_token == "s3cret_token"
    assert telegram.webhook.allowed_updates == ["message", "callback_query"]
    info = await bot.get_webhook_info()
    assert info.url == "https://desk.example/telegram/webhook"
    assert info.allowed_updates == ["message", "callback_query"]

    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()

    assert await bot.delete_webhook() is True
    assert await bot.get_updates() == []
    with pytest.raises(TelegramBadRequest, match="secret token"):
        await bot.set_webhook("https://desk.example/hook", secret_token="bad token!")


async def test_post_webhook_to_aiogram_handler(bot: Bot, telegram: TelegramStandIn) -> None:
    dp = Dispatcher()
    dp.include_router(echo_router())
    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dp, bot=bot, secret_token="s3cret", handle_in_background=False
    ).register(app, path="/telegram/webhook")
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        await bot.set_webhook(f"http://{host}:{port}/telegram/webhook", secret_token="s3cret")
        update = telegram.message(CHAT, "через вебхук")

        assert await telegram.post_webhook(None, update, "wrong") == 401
        assert telegram.calls("sendMessage") == []
        assert await telegram.deliver_until_ok(None, update) == [200]
    finally:
        await runner.cleanup()

    assert telegram.last("sendMessage").params["text"] == "echo: через вебхук"
    assert telegram.webhook_deliveries == [(update["update_id"], 401), (update["update_id"], 200)]


async def test_deliver_until_ok_retries_until_accepted(telegram: TelegramStandIn) -> None:
    statuses = iter([500, 503, 200])

    async def flaky(request: web.Request) -> web.Response:
        return web.Response(status=next(statuses))

    app = web.Application()
    app.router.add_post("/hook", flaky)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        got = await telegram.deliver_until_ok(
            f"http://{host}:{port}/hook", telegram.message(CHAT, "x"), "s", delay=0.01
        )
    finally:
        await runner.cleanup()
    assert got == [500, 503, 200]


async def test_retry_after_once(bot: Bot, telegram: TelegramStandIn) -> None:
    telegram.fail_next("sendMessage", status=429, retry_after=3)

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(CHAT, "раз")
    assert caught.value.retry_after == 3
    await bot.send_message(CHAT, "два")
    assert [c.status for c in telegram.calls("sendMessage")] == [429, 200]


async def test_server_error(bot: Bot, telegram: TelegramStandIn) -> None:
    telegram.fail_next("sendDocument", status=500)

    with pytest.raises(TelegramServerError):
        await bot.send_document(CHAT, BufferedInputFile(b"x", filename="a.pdf"))


async def test_blocked_chat_is_forbidden(bot: Bot, telegram: TelegramStandIn) -> None:
    telegram.block_chat(CHAT)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "вы тут?")
    await bot.send_message(CHAT + 1, "другой чат")
    telegram.unblock_chat(CHAT)
    await bot.send_message(CHAT, "снова")


async def test_unknown_method_and_wrong_token(bot: Bot, telegram: TelegramStandIn) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{telegram.base_url}/bot{telegram.token}/sendTelepathy") as resp,
    ):
        assert resp.status == 404
        assert await resp.json() == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found: method not found",
        }
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{telegram.base_url}/bot{telegram.token}/GETME", params={"x": "1"}) as resp,
    ):
        body = await resp.json()
        assert body["ok"] is True and body["result"]["is_bot"] is True
    assert telegram.last("getMe").params == {"x": 1}

    other = Bot(
        "43:WRONG",
        session=AiohttpSession(api=TelegramAPIServer.from_base(telegram.base_url)),
    )
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await other.get_me()
    finally:
        await other.session.close()


async def test_wait_for_times_out_with_a_summary(telegram: TelegramStandIn) -> None:
    with pytest.raises(TimeoutError, match="0/1 sendMessage"):
        await telegram.wait_for("sendMessage", timeout=0.1)


async def test_every_factory_update_validates(telegram: TelegramStandIn) -> None:
    updates = list(all_factory_updates(telegram, CHAT))
    ids = [u["update_id"] for u in updates]
    assert ids == sorted(set(ids))

    parsed = [Update.model_validate(u) for u in updates]
    kinds = [p.event_type for p in parsed]
    assert set(kinds) >= {
        "message",
        "callback_query",
        "edited_message",
        "channel_post",
        "my_chat_member",
        "pre_checkout_query",
    }
    by_text = {p.message.text: p.message for p in parsed if p.message and p.message.text}
    assert by_text["привет"].from_user is not None
    assert by_text["привет"].from_user.language_code == "ru"
    assert by_text["/start deep-link-token"].entities is not None
    contacts = [p.message.contact for p in parsed if p.message and p.message.contact]
    assert contacts[0].user_id == CHAT and contacts[1].user_id is None
    assert by_text["всем привет"].chat.type == "group"
    kicked = next(p.my_chat_member for p in parsed if p.my_chat_member)
    assert kicked.new_chat_member.status == "kicked"
    payment = next(
        p.message.successful_payment for p in parsed if p.message and p.message.successful_payment
    )
    assert payment.total_amount == 50_000 and payment.invoice_payload == "topup:1"
