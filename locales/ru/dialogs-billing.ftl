# Billing flows of the conversation engine (dialogs/flows/promised, tariffs, services, suspend,
# settings). Refusals reuse `error-<code>` from billing.ftl. Amounts are numbers in major units;
# dates arrive formatted for the locale.

## Shared

dialogs-billing-refused = Сейчас это недоступно. Напишите оператору, если нужна помощь.
dialogs-billing-no-subscription = У вас нет подключённой услуги.
# $amount (number)
dialogs-billing-pay-amount = 💳 Пополнить на { NUMBER($amount, maximumFractionDigits: 2) } ₽

## Promised payment

dialogs-pp-menu = 🤝 Обещанный платёж
# $days, $per30 (number); $debt, $daily, $amount, $fee (number); $free: yes | no; $until (string)
dialogs-pp-terms = Доступ на { $days } { $days ->
        [one] день
        [few] дня
       *[many] дней
    }: { NUMBER($debt, maximumFractionDigits: 2) } ₽ долга + { $days } × { NUMBER($daily, maximumFractionDigits: 2) } ₽ = { NUMBER($amount, maximumFractionDigits: 2) } ₽. { $free ->
        [yes] Бесплатно.
       *[other] Комиссия { NUMBER($fee, maximumFractionDigits: 2) } ₽.
    } Погасить до { $until }. Доступно { $per30 } { $per30 ->
        [one] раз
        [few] раза
       *[many] раз
    } в 30 дней.
dialogs-pp-take = ✅ Подключить
# $amount (number) to repay; $until (string); $balance (number)
dialogs-pp-done = Готово: зачислено { NUMBER($amount, minimumFractionDigits: 2) } ₽, баланс { NUMBER($balance, minimumFractionDigits: 2) } ₽. Погасите до { $until }.
dialogs-pp-done-restored = Готово, интернет включится в течение 2 минут. Зачислено { NUMBER($amount, minimumFractionDigits: 2) } ₽ — погасите до { $until }.

## Tariffs

dialogs-tariff-menu = 📋 Тариф
dialogs-tariff-list-button = 📋 Тарифы
dialogs-tariff-none = Сейчас нет тарифов для подключения.
dialogs-tariff-list-title = Тарифы:
# $name (string); $down, $up (number, Мбит/с); $price (number); $period: monthly | daily; $current: yes | no
dialogs-tariff-line = { $current ->
        [yes] ✅
       *[no] •
    } «{ $name }» — { $down }/{ $up } Мбит/с — { NUMBER($price, maximumFractionDigits: 2) } ₽/{ $period ->
        [daily] день
       *[monthly] мес
    }{ $current ->
        [yes] {" "}(ваш тариф)
       *[no] {""}
    }
# $name (string)
dialogs-tariff-switch-to = Перейти на «{ $name }»
# $name (string); $price (number) a month; $down (number)
dialogs-tariff-choose = Ваш тариф «{ $name }» — { NUMBER($price, maximumFractionDigits: 2) } ₽/мес, { $down } Мбит/с. На какой перейти?
# $name (string); $price, $diff (number) a month; $sign: "+", "−" or "±"
dialogs-tariff-target = «{ $name }» · { NUMBER($price, maximumFractionDigits: 2) } ₽/мес · { $sign }{ NUMBER($diff, maximumFractionDigits: 2) } ₽
# $name (string)
dialogs-tariff-no-targets = С тарифа «{ $name }» сейчас перейти не на что.
# $name (string); $date (string, 01.12); $amount (number); $days (number)
dialogs-tariff-when = «{ $name }»: с { $date } или сейчас (доплата { NUMBER($amount, maximumFractionDigits: 2) } ₽ за { $days } { $days ->
        [one] день
        [few] дня
       *[many] дней
    })?
# $date (string, 1 декабря)
dialogs-tariff-when-next = С { $date }
dialogs-tariff-when-now = Сейчас
# $name (string); $amount, $price (number)
dialogs-tariff-confirm-now = Перейти на «{ $name }» сейчас? Спишем { NUMBER($amount, minimumFractionDigits: 2) } ₽, дальше { NUMBER($price, maximumFractionDigits: 2) } ₽/мес.
# $name (string); $date (string); $price, $fee (number); $free: yes | no
dialogs-tariff-confirm-next = Перейти на «{ $name }» с { $date }? Новая цена { NUMBER($price, maximumFractionDigits: 2) } ₽/мес{ $free ->
        [yes] , смена бесплатна.
       *[other] , комиссия за смену { NUMBER($fee, minimumFractionDigits: 2) } ₽.
    }
dialogs-tariff-confirm-button = ✅ Подтвердить
# $name (string); $amount (number) charged now
dialogs-tariff-changed = Готово: ваш тариф «{ $name }». Списано { NUMBER($amount, minimumFractionDigits: 2) } ₽.
# $name (string); $date (string, 01.12)
dialogs-tariff-scheduled = Смена на «{ $name }» запланирована на { $date }.
dialogs-tariff-cancel-pending = ↩️ Отменить смену
dialogs-tariff-cancel-pending-yes = ✅ Да, отменить смену
# $name (string); $date (string)
dialogs-tariff-pending = Уже запланирован переход на «{ $name }» с { $date }. Чтобы выбрать другой тариф, отмените эту смену.
dialogs-tariff-cancel-pending-ask = Отменить переход на «{ $name }» с { $date }?
# $name (string)
dialogs-tariff-pending-cancelled = Смена на «{ $name }» отменена. Тариф остаётся прежним.

## My services

dialogs-services-menu = 📦 Мои услуги
# $started (string)
dialogs-services-title = Интернет, подключён с { $started }:
dialogs-services-active = 🟢 Работает.
# $debt (number)
dialogs-services-blocked = 🔴 Приостановлен из-за долга { NUMBER($debt, minimumFractionDigits: 2) } ₽. Пополните счёт или возьмите обещанный платёж — интернет включится за 2 минуты.
# $end (string)
dialogs-services-frozen = ⏸ Заморожен до { $end } включительно. Разморозить можно в любой момент.
# $name (string); $date (string)
dialogs-services-scheduled-change = 🔜 С { $date } — тариф «{ $name }».
# $start, $end (string)
dialogs-services-freeze-scheduled = ❄️ Заморозка запланирована: { $start } — { $end }.
# $days (number)
dialogs-services-free-days = Бесплатных дней заморозки в этом году: { $days }.
# $balance (number); $until (string)
dialogs-services-balance-until = 💰 { NUMBER($balance, minimumFractionDigits: 2) } ₽ — хватит до { $until }.
dialogs-services-balance = 💰 { NUMBER($balance, minimumFractionDigits: 2) } ₽.
dialogs-services-none = У вас нет подключённой услуги. Баланс { NUMBER($balance, minimumFractionDigits: 2) } ₽.

## Suspension (заморозка)

dialogs-freeze-menu = ❄️ Заморозка
dialogs-freeze-ask-from = С какого дня заморозить? Или напишите дату, например 05.12.
dialogs-freeze-from-today = С сегодня
dialogs-freeze-from-tomorrow = С завтра
# $start (string)
dialogs-freeze-ask-length = Заморозка с { $start }. На сколько? Или напишите последний день, например 20.12.
# $days (number)
dialogs-freeze-days = { $days } { $days ->
        [one] день
        [few] дня
       *[many] дней
    }
# $start, $end, $resume (string); $days, $free, $paid (number); $fee, $daily (number)
dialogs-freeze-quote = Заморозка с { $start } по { $end }: { $days } { $days ->
        [one] день
        [few] дня
       *[many] дней
    }, бесплатных { $free }, платных { $paid }{ $paid ->
        [0] {""} — бесплатно.
       *[other] {""} по { NUMBER($daily, maximumFractionDigits: 2) } ₽ — { NUMBER($fee, maximumFractionDigits: 2) } ₽.
    } Абонентская плата не списывается. Интернет снова с { $resume }. Заморозить?
dialogs-freeze-confirm-button = ❄️ Заморозить
# $start, $end, $resume (string)
dialogs-freeze-started = Готово: услуга заморожена по { $end }, интернет снова с { $resume }. Разморозить можно в любой момент.
dialogs-freeze-scheduled = Готово: заморозка с { $start } по { $end }. Интернет снова с { $resume }.
# $end (string)
dialogs-freeze-frozen = Услуга заморожена по { $end } включительно.
dialogs-freeze-resume-button = ▶️ Разморозить
dialogs-freeze-resume-ask = Разморозить сейчас? Интернет включится сразу, абонентская плата — с сегодняшнего дня.
dialogs-freeze-resume-yes = ✅ Да, разморозить
dialogs-freeze-resumed = Готово: услуга разморожена, интернет включится в течение 2 минут.
dialogs-freeze-not-frozen = Услуга сейчас не заморожена.

## Settings

dialogs-settings-menu = ⚙️ Настройки
# $lang: ru | en
dialogs-settings-title = Настройки. Язык: { $lang ->
        [en] English
       *[ru] русский
    }.
dialogs-settings-lang-button = 🌐 Язык
dialogs-settings-notify-button = 🔔 Уведомления
dialogs-settings-ask-lang = Выберите язык:
dialogs-settings-lang-ru = Русский
dialogs-settings-lang-en = English
dialogs-settings-lang-set = Готово, теперь я говорю по-русски.
dialogs-settings-ask-notify = Какие уведомления присылать? Нажмите, чтобы включить или выключить.
# $topic: billing | outages | tickets | marketing; $on: yes | no
dialogs-settings-topic = { $on ->
        [yes] ✅
       *[no] ⬜
    } { $topic ->
        [billing] Баланс и платежи
        [outages] Аварии
        [tickets] Заявки
       *[marketing] Новости и акции
    }
dialogs-settings-topic-on = Включено: { $topic ->
        [billing] баланс и платежи
        [outages] аварии
        [tickets] заявки
       *[marketing] новости и акции
    }.
dialogs-settings-topic-off = Выключено: { $topic ->
        [billing] баланс и платежи
        [outages] аварии
        [tickets] заявки
       *[marketing] новости и акции
    }.

## Settings: the question after linking Telegram, and the always-sent security notices
## (dialogs/flows/settings.py)

dialogs-settings-ask-billing = Получать уведомления о балансе? Напомню, когда деньги будут заканчиваться, и сообщу о зачислении платежей.
dialogs-settings-billing-yes = ✅ Да
dialogs-settings-billing-no = Нет
dialogs-settings-billing-on = Хорошо, буду присылать уведомления о балансе и платежах. Изменить это можно в «⚙️ Настройки» → «🔔 Уведомления».
dialogs-settings-billing-off = Хорошо, уведомлений о балансе не будет. Включить их можно в «⚙️ Настройки» → «🔔 Уведомления».
dialogs-settings-security-always = Уведомления о безопасности (вход с нового устройства, смена пароля, подключение Telegram) приходят всегда.
