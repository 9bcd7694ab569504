## Telegram: linking a contract to the chat (bot/linking.py)

telegram-link-welcome = Подключите ваш договор, чтобы видеть баланс, пополнять счёт и писать в поддержку.
    Самый быстрый способ: в личном кабинете нажмите «Подключить Telegram».
    Или нажмите «📱 Поделиться номером» ниже и введите номер договора.
telegram-link-share-button = 📱 Поделиться номером
telegram-linked = ✅ Договор { $contract } подключён
telegram-link-invalid = Эта ссылка недействительна: она уже использована или устарела (ссылка действует 10 минут).
    Получите новую в личном кабинете («Подключить Telegram») или нажмите «📱 Поделиться номером» и введите номер договора.
telegram-link-foreign-contact = Пожалуйста, поделитесь своим собственным номером кнопкой «📱 Поделиться номером» — чужой контакт подключить нельзя.
telegram-link-phone-unknown = Мы не нашли договор с этим номером телефона. Подключите Telegram в личном кабинете («Подключить Telegram») или обратитесь в поддержку.
telegram-link-ask-contract = Спасибо! Теперь введите номер договора.
telegram-link-wrong-contract = Номер договора не подходит к этому телефону. Проверьте его и попробуйте ещё раз.
telegram-link-too-many = Слишком много попыток. Попробуйте через час или подключите Telegram в личном кабинете.
telegram-not-linked = Договор к этому Telegram не подключён.
telegram-unlink-confirm = Отключить договор { $contract } от этого Telegram? Баланс и уведомления здесь больше не будут доступны.
telegram-unlink-yes = Да, отключить
telegram-unlink-no = Отмена
telegram-unlinked = Договор отключён от этого Telegram. Чтобы подключить снова, отправьте /start.
telegram-unlink-cancelled = Хорошо, договор остаётся подключённым.

## Telegram Payments: the reply to successful_payment (bot/handlers.py)
# $amount, $balance (numbers, RUB)
telegram-payment-credited = ✅ Зачислено { NUMBER($amount, minimumFractionDigits: 2) } ₽ · баланс { NUMBER($balance, minimumFractionDigits: 2) } ₽
telegram-payment-credited-restored = ✅ Зачислено { NUMBER($amount, minimumFractionDigits: 2) } ₽ · баланс { NUMBER($balance, minimumFractionDigits: 2) } ₽
    Интернет включится в течение 2 минут.
telegram-payment-under-review = Платёж получен, но зачислить его автоматически не удалось. Мы проверим его и зачислим вручную, писать ничего не нужно.

## Group chats (TELEGRAM_GROUP_CHATS=true; bot/handlers.py)
telegram-group-private = Я отвечаю в личных сообщениях, чтобы данные вашего договора не видели другие. Напишите мне туда.
telegram-group-open-chat = Открыть личный чат

## Buttons under notifications in Telegram (notifications/telegram.py)
telegram-notice-pay = 💳 Оплатить
telegram-notice-promised = 🤝 Обещанный платёж
telegram-notice-ticket = Открыть заявку
