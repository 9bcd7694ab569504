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

# $ticket (number) ticket number; $event reply | status_changed; $status one of open,
# in_progress, resolved, closed.
ticket-updated =
    { $event ->
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
