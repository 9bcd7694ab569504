# Notifications delivered by the outbox worker (notifications/render.py).
# A message's value is the text; its `.subject` attribute is the email subject.
# The payload's "args" become the variables ($code, $minutes ...).

## auth

# $code (string) one-time code; $minutes (number) how long it is valid.
auth-password-reset-code =
    Код для восстановления пароля: { $code }
    Срок действия кода — { $minutes ->
        [one] { $minutes } минута
        [few] { $minutes } минуты
       *[many] { $minutes } минут
    }.
    Если вы не запрашивали восстановление, просто проигнорируйте это сообщение. Никому не сообщайте код.
    .subject = Восстановление пароля

## support

# $ticket (number) ticket number; $event answered | reply | status_changed; $status one of
# open, in_progress, resolved, closed. With answered: $answer (string) the specialist's answer,
# cut to about 1000 characters (reply: an answer without its text, from older rows).
ticket-updated =
    { $event ->
        [answered] Ответ специалиста по заявке № { NUMBER($ticket, useGrouping: 0) }:
            { $answer }
            Ответить можно в чате или в личном кабинете.
        [reply] По заявке № { NUMBER($ticket, useGrouping: 0) } новый ответ специалиста. Прочитать его можно в личном кабинете или в чате.
       *[other] Заявка № { NUMBER($ticket, useGrouping: 0) } обновлена. { $status ->
            [open] Статус: открыта.
            [in_progress] Статус: в работе.
            [resolved] Статус: решена. Если проблема осталась, ответьте на это сообщение.
            [closed] Статус: закрыта.
           *[other] Подробности — в личном кабинете.
        }
    }
    .subject = Заявка № { NUMBER($ticket, useGrouping: 0) } обновлена

## security (always sent: a customer cannot turn these off)

# $at (string) when, on the provider's clock; $device (string) the browser and system
# ("Chrome, Windows") or "none"; $network (string) the address with its last part hidden
# ("203.0.113.*") or "none".
auth-security-new-sign-in =
    Вход в личный кабинет с нового устройства: { $at }{ $device ->
        [none] {""}
       *[other] , { $device }
    }{ $network ->
        [none] {""}
       *[other] , адрес { $network }
    }.
    Если это были не вы, смените пароль и напишите в поддержку.
    .subject = Вход с нового устройства

# $at (string) when; $how changed | reset (by a recovery code)
auth-security-password-changed =
    { $how ->
        [reset] Пароль от личного кабинета восстановлен по коду ({ $at }). Все входы на других устройствах завершены.
       *[other] Пароль от личного кабинета изменён ({ $at }). Все входы на других устройствах завершены.
    }
    Если это были не вы, срочно напишите в поддержку.
    .subject = Пароль изменён

# $at (string) when
auth-security-telegram-linked =
    К вашему договору подключён Telegram ({ $at }): в боте теперь видны баланс и платежи.
    Если это были не вы, отключите его в личном кабинете, смените пароль и напишите в поддержку.
    .subject = Подключён Telegram

## billing

# $balance (number, major units) the balance; $currency its code; $days (number) how many
# days it lasts at the current tariff.
billing-low-balance =
    На счёте { NUMBER($balance, minimumFractionDigits: 2) } { $currency } — этого хватит примерно на { $days ->
        [one] { $days } день
        [few] { $days } дня
       *[many] { $days } дней
    }. Пополните баланс, чтобы интернет не отключился.
    .subject = Заканчиваются средства на счёте

# $currency (string) ISO code: how an amount's currency is written after the number.
notifications-currency-sign =
    { $currency ->
        [RUB] ₽
       *[other] { $currency }
    }

# $promised yes | no: whether the provider offers promised payments.
billing-subscription-blocked =
    Интернет приостановлен: на счёте недостаточно средств. { $promised ->
        [yes] Пополните баланс или подключите обещанный платёж.
       *[no] Пополните баланс, и доступ восстановится автоматически.
    }
    .subject = Интернет приостановлен
billing-subscription-restored = Интернет снова работает.
    .subject = Доступ восстановлен
# $number (string) the invoice number; $state due | paid | issued. With due and paid:
# $amount (number, major units), $currency (string), $due (string) the payment deadline.
billing-invoice-issued =
    { $state ->
        [due] Выставлен счёт № { $number } на { NUMBER($amount, minimumFractionDigits: 2) } { notifications-currency-sign }, оплатить до { $due }.
        [paid] Выставлен счёт № { $number } на { NUMBER($amount, minimumFractionDigits: 2) } { notifications-currency-sign }. Он уже оплачен с баланса.
       *[other] Выставлен счёт № { $number }. Он в личном кабинете.
    }
    .subject = Счёт № { $number }

## payments

# $amount (number, major units) the payment; $balance (number) the balance after it;
# $currency (string) ISO code.
payments-credited = Зачислено { NUMBER($amount, minimumFractionDigits: 2) } { notifications-currency-sign }. Баланс { NUMBER($balance, minimumFractionDigits: 2) } { notifications-currency-sign }.
    .subject = Платёж зачислен

# $title (string) what failed, as the network team named it; $eta (string) the expected fix
# time on the provider's clock, or "none"
network-outage-started = { $eta ->
    [none] Авария в сети, из-за которой может не работать интернет: { $title }. Уже устраняем; напишем, когда починим.
   *[other] Авария в сети, из-за которой может не работать интернет: { $title }. Ориентир { $eta }. Напишем, когда починим.
}
    .subject = Авария в сети

# $title (string) what failed, as the network team named it
network-outage-resolved = Авария устранена: { $title }. Интернет должен работать; если нет — перезагрузите роутер или напишите нам.
    .subject = Авария устранена

# $title (string) what the work is, as the network team named it; $start (string) when it
# starts, on the provider's clock; $end (string) when it should end, or "none"
network-maintenance-planned = { $end ->
    [none] Плановые работы в сети: { $title }. Начало { $start }; интернет может ненадолго пропадать.
   *[other] Плановые работы в сети: { $title }. С { $start } до { $end } интернет может пропадать.
}
    .subject = Плановые работы в сети
