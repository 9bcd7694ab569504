# Texts of the Rasa bridge (dialogs/rasa_actions.py). Balance, top-up and hand-over texts are
# shared with the engine (dialogs.ftl); refusals use the common error-<code> keys.

rasa-link-account = Чтобы ответить, мне нужно знать ваш договор. Подключите его в личном кабинете и напишите снова.
rasa-error = Что-то пошло не так. Попробуйте ещё раз чуть позже или позовите оператора.
rasa-button-confirm = Подтвердить
rasa-button-cancel = Отмена

rasa-topup-ask-amount = Сколько внести? Напишите сумму в рублях, от { NUMBER($min, maximumFractionDigits: 2) } до { NUMBER($max, maximumFractionDigits: 2) } ₽.

rasa-tariff-ask = На какой тариф перейти? Доступны: { $tariffs }.
rasa-tariff-unknown = Тарифа «{ $name }» нет. Доступны: { $tariffs }.
rasa-tariff-quote-now = Переход на «{ $name }» сразу: сегодня спишется { NUMBER($total, minimumFractionDigits: 2) } ₽, дальше { NUMBER($monthly, minimumFractionDigits: 2) } ₽ в месяц. Подтверждаете?
rasa-tariff-quote-next = Переход на «{ $name }» с { $date }: { NUMBER($monthly, minimumFractionDigits: 2) } ₽ в месяц. Подтверждаете?
rasa-tariff-changed = Готово: ваш тариф — «{ $name }».
rasa-tariff-scheduled = Готово: тариф «{ $name }» начнёт действовать с { $date }.

rasa-pp-terms = Могу подключить обещанный платёж: { NUMBER($amount, minimumFractionDigits: 2) } ₽ на { $days } { $days ->
    [one] день
    [few] дня
   *[many] дней
}, комиссия { NUMBER($fee, minimumFractionDigits: 2) } ₽. Погасить до { $until }. Подключить?
rasa-pp-taken = Готово: зачислено { NUMBER($amount, minimumFractionDigits: 2) } ₽ до { $until }. На счёте { NUMBER($balance, minimumFractionDigits: 2) } ₽.

rasa-ticket-ask-description = Опишите проблему — я передам её в поддержку.
rasa-ticket-subject = Обращение из чата: { $category }
rasa-ticket-created = Заявка № { $id } создана. Мы сообщим, когда появятся новости.

rasa-documents-ask-type = Какой документ нужен: договор, счёт или акт?
rasa-documents-none = Такого документа пока нет.
rasa-documents-link = { $title } ({ $period }): { $url }
