# The conversation engine (dialogs/): the bot's and the widget's texts. Amounts are numbers in
# major units; dates arrive formatted for the locale ("18 сентября").

## Universal words (comma-separated, compared case- and punctuation-insensitively)

dialogs-words-cancel = отмена, отменить, стоп, хватит
dialogs-words-back = назад, вернуться
dialogs-words-menu = меню, главное меню, начало
dialogs-words-agent = оператор, позовите оператора, живой человек

## Buttons

dialogs-button-back = ◀️ Назад
dialogs-button-cancel = ✖️ Отмена
dialogs-button-menu = 🏠 Меню
dialogs-button-agent = 💬 Написать оператору

## Main menu and its header card

dialogs-greeting = Здравствуйте! Чем помочь?
dialogs-menu-intro = Выберите, что нужно сделать, или напишите своими словами.
dialogs-menu-anonymous-telegram = Чтобы видеть баланс и платить, подключите договор: /start.
dialogs-menu-anonymous-webchat = Чтобы видеть баланс и платить, войдите в личный кабинет.
# $name, $contract (string); $status: active | suspended | blocked | none
dialogs-header-customer = 👤 { $name } · договор { $contract } · { $status ->
        [active] 🟢 Активен
        [suspended] ⏸ Заморожен
        [blocked] 🔴 Приостановлен
       *[other] ⚪ Нет услуги
    }
# $amount (number); $until (string); $tariff (string)
dialogs-header-balance-until = 💰 { NUMBER($amount, minimumFractionDigits: 2) } ₽ · хватит до { $until } · тариф «{ $tariff }»
# $amount (number)
dialogs-header-balance = 💰 { NUMBER($amount, minimumFractionDigits: 2) } ₽
dialogs-menu-top-up = 💳 Пополнить
dialogs-menu-agent = 💬 Поддержка
dialogs-menu-balance = 💰 Баланс
dialogs-menu-history = 🧾 История
dialogs-thanks = Пожалуйста! Обращайтесь.
dialogs-goodbye = До свидания! Если что — пишите.

## Balance and history

# $amount (number)
dialogs-balance = На счёте { NUMBER($amount, minimumFractionDigits: 2) } ₽.
# $amount (number) the debt
dialogs-balance-debt = Долг { NUMBER($amount, minimumFractionDigits: 2) } ₽. Пополните счёт, чтобы интернет работал.
# $amount (number); $days (number); $until (string)
dialogs-balance-days = На счёте { NUMBER($amount, minimumFractionDigits: 2) } ₽ — хватит на { $days } { $days ->
        [one] день
        [few] дня
       *[many] дней
    }, до { $until }.
dialogs-history-title = Последние операции:
# $date (string); $amount (number, signed); $reason: topup | charge | refund | fee | promised_payment | promised_payment_reversal | adjustment | opening_balance
dialogs-history-line = { $date }: { NUMBER($amount, minimumFractionDigits: 2) } ₽ — { $reason ->
        [topup] пополнение
        [charge] абонентская плата
        [refund] возврат
        [fee] комиссия
        [promised_payment] обещанный платёж
        [promised_payment_reversal] возврат обещанного платежа
        [adjustment] корректировка
       *[other] начальный баланс
    }
dialogs-history-explain = Абонентская плата списывается каждый день равными долями месячной.
dialogs-history-empty = Операций пока нет.

## Top-up

dialogs-topup-ask = Сколько внести?
# $debt (number)
dialogs-topup-ask-debt = Долг { NUMBER($debt, minimumFractionDigits: 2) } ₽. Сколько внести?
# $amount (number)
dialogs-topup-preset-debt = { NUMBER($amount, maximumFractionDigits: 2) } ₽ — долг
dialogs-topup-preset-month = { NUMBER($amount, maximumFractionDigits: 2) } ₽ — месяц
dialogs-topup-preset-3-months = { NUMBER($amount, maximumFractionDigits: 2) } ₽ — 3 мес
dialogs-topup-preset-other = Другая сумма
# $min, $max (number)
dialogs-topup-type-amount = Напишите сумму в рублях, от { NUMBER($min, maximumFractionDigits: 2) } до { NUMBER($max, maximumFractionDigits: 2) } ₽.
dialogs-topup-out-of-range = Сумма должна быть от { NUMBER($min, maximumFractionDigits: 2) } до { NUMBER($max, maximumFractionDigits: 2) } ₽. Напишите другую.
# $amount (number)
dialogs-topup-link = Счёт на { NUMBER($amount, minimumFractionDigits: 2) } ₽ готов. Оплатите по ссылке — деньги зачислятся сразу после оплаты.
dialogs-topup-invoice = Счёт на { NUMBER($amount, minimumFractionDigits: 2) } ₽: оплатите его прямо в Telegram.
dialogs-topup-rate-limited = Слишком много счетов за час. Попробуйте позже или оплатите уже созданный.
dialogs-topup-failed = Не получилось создать платёж. Попробуйте ещё раз чуть позже.

## Identification

dialogs-identify-telegram = Для этого нужно подключить договор. Откройте личный кабинет → «Подключить Telegram» или отправьте /start и поделитесь номером телефона.
dialogs-identify-webchat = Для этого нужно войти: откройте чат из личного кабинета или укажите номер договора и пароль.

## Handover

# $minutes (number)
dialogs-handover-waiting = Передаю разговор оператору. Ответим в течение { $minutes } { $minutes ->
        [one] минуты
       *[other] минут
    }.
dialogs-handover-still-waiting = Оператор скоро ответит — ваше сообщение он увидит.
dialogs-handover-agent-joined = Оператор подключился к разговору.
dialogs-handover-agent-joined-named = К разговору подключился оператор { $name }.
dialogs-handover-transferred = Разговор передан другому оператору — он видит всю переписку.
dialogs-handover-transferred-named = Разговор передан оператору { $name } — он видит всю переписку.
dialogs-handover-released = Оператор завершил разговор. Я снова на связи — чем помочь?
dialogs-handover-closed = Разговор завершён. Если что-то ещё — просто напишите.

## Fallbacks and bad input

dialogs-fallback = Я не понял. Выберите в меню или напишите иначе.
dialogs-fallback-in-flow = Не понял ответ.
dialogs-fallback-agent = Кажется, я не могу помочь. Позвать оператора?
dialogs-empty-input = Пустое сообщение. Напишите, что нужно, или выберите в меню.
dialogs-unsupported-input = Такое сообщение я пока не понимаю. Напишите текстом.
dialogs-no-words = Я понимаю только слова — напишите, что нужно.
# $max (number)
dialogs-too-long = Сообщение слишком длинное. Опишите вопрос короче — до { $max } символов.
dialogs-stale-button = Эта кнопка устарела.
dialogs-cancelled = Отменено. Что-нибудь ещё?
dialogs-nothing-to-cancel = Отменять нечего.
dialogs-error = Что-то пошло не так. Попробуйте ещё раз или напишите оператору.

## The web chat socket's error frames (backend/webchat/chat_socket.py)
dialogs-webchat-bad-frame = Не удалось прочитать сообщение. Попробуйте ещё раз.
dialogs-webchat-frame-too-large = Сообщение слишком длинное, его не отправить.
dialogs-webchat-rate-limited = Вы отправляете сообщения слишком часто. Подождите немного.
