# Billing actions: tariff change, promised payment, voluntary suspension (заморозка).
# Refusal texts are `error-<code>` with the API's code in kebab-case; notification texts are
# keyed by the outbox event they render. Amounts are numbers in major units (roubles);
# dates and times arrive formatted by the caller in the customer's time zone.

## Refusals: tariff change

error-tariff-not-found = Такого тарифа нет.
error-same-tariff = Это ваш текущий тариф.
error-tariff-inactive = Этот тариф больше не подключается.
error-tariff-not-allowed = Перейти на этот тариф с вашего нельзя. Выберите другой тариф из списка.
# $amount (number) the debt to pay
error-subscription-blocked = Доступ приостановлен из-за долга. Сначала пополните баланс на { NUMBER($amount, minimumFractionDigits: 2) } ₽.
error-subscription-suspended = Услуга на паузе. Сначала снимите заморозку.
error-pending-change-exists = Смена тарифа уже запланирована. Отмените её, чтобы выбрать другой тариф.
error-locked-during-promised-payment = Пока действует обещанный платёж, тариф сменить нельзя. Погасите его — и смена станет доступна.
# $date (string) when a change becomes possible
error-too-soon = Тариф недавно меняли. Следующая смена возможна с { $date }.
error-change-now-not-allowed = Сразу можно перейти только на более дорогой тариф; этот вступит в силу с начала следующего месяца.
error-no-pending-change = Запланированной смены тарифа нет.

## Refusals: promised payment

error-pp-disabled = Обещанный платёж не предоставляется.
error-pp-active = Обещанный платёж уже подключён. Пополните баланс, чтобы погасить его.
# $date (string) when the next one becomes available
error-pp-too-frequent = Обещанный платёж доступен раз в 30 дней. Следующий — с { $date }.
# $amount (number) the debt left by the previous promised payment
error-pp-previous-not-repaid = Предыдущий обещанный платёж не погашен — внесите { NUMBER($amount, minimumFractionDigits: 2) } ₽.
# $amount (number) what to pay before a promised payment becomes possible
error-pp-debt-too-large = Долг слишком большой для обещанного платежа. Внесите { NUMBER($amount, minimumFractionDigits: 2) } ₽, и он станет доступен.
error-balance-sufficient = Денег на балансе хватает — обещанный платёж не нужен.

## Refusals: suspension

error-freeze-invalid-dates = Дата окончания раньше даты начала.
error-freeze-in-past = Заморозку можно начать сегодня или позже.
# $date (string) the latest possible start
error-freeze-start-too-far = Заморозку можно запланировать не дальше чем до { $date }.
# $days (number)
error-freeze-too-short = Заморозка — минимум { $days ->
        [one] { $days } день
        [few] { $days } дня
       *[other] { $days } дней
    }.
# $days (number)
error-freeze-too-long = Заморозка — максимум { $days ->
        [one] { $days } день
        [few] { $days } дня
       *[other] { $days } дней
    }.
error-freeze-overlaps = На эти даты уже есть заморозка.
# $amount (number) the debt
error-freeze-negative-balance = Для заморозки баланс не должен быть отрицательным. Пополните его на { NUMBER($amount, minimumFractionDigits: 2) } ₽.
error-freeze-not-cancellable = Заморозка уже началась — её можно только снять.
error-freeze-not-active = Эта заморозка ещё не началась — её можно отменить.

## Notifications (outbox events)

# $tariff (string) the new tariff's name; $date (string) the day it took effect
billing-tariff-changed = Ваш тариф — «{ $tariff }» с { $date }.
    .subject = Тариф изменён
# $tariff (string); $date (string) the day it takes effect
billing-tariff-change-scheduled = Смена тарифа на «{ $tariff }» запланирована на { $date }. Передумали — отмените её в меню «Тариф».
    .subject = Смена тарифа запланирована
billing-tariff-change-cancelled = Запланированная смена тарифа отменена.
    .subject = Смена тарифа отменена
# $amount (number); $until (string) when it has to be repaid
billing-promised-payment-granted = Обещанный платёж { NUMBER($amount, minimumFractionDigits: 2) } ₽ подключён. Пополните баланс до { $until }.
    .subject = Обещанный платёж подключён
# $amount (number); $until (string)
billing-promised-payment-expiring = Обещанный платёж { NUMBER($amount, minimumFractionDigits: 2) } ₽ заканчивается { $until }. Пополните баланс, чтобы интернет не отключился.
    .subject = Обещанный платёж заканчивается
# $balance (number) the balance after the credit was taken back
billing-promised-payment-expired = Срок обещанного платежа истёк. Баланс: { NUMBER($balance, minimumFractionDigits: 2) } ₽.
    .subject = Срок обещанного платежа истёк
# $start, $end (string) the first and the last day of the pause
billing-suspension-scheduled = Заморозка запланирована: с { $start } по { $end }.
    .subject = Заморозка запланирована
# $resume (string) the first day of service after the pause
billing-suspension-started = Услуга заморожена. Интернет включится { $resume }; снять заморозку можно в любой момент.
    .subject = Заморозка началась
# $resume (string)
billing-suspension-ending = Заморозка заканчивается: интернет включится { $resume }.
    .subject = Заморозка заканчивается
billing-suspension-ended = Заморозка снята, интернет снова работает.
    .subject = Заморозка снята
# $start (string)
billing-suspension-cancelled = Заморозка с { $start } отменена.
    .subject = Заморозка отменена
