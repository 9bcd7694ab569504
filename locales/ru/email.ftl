# E-mail notices (notifications/email.py) and the unsubscribe pages behind the link every
# marketing e-mail carries (backend/customers/unsubscribe.py).

## the e-mail itself

# $provider the provider's name; the subject of a notice whose template has no `.subject`.
notifications-email-subject-default = Уведомление от { $provider }
# $provider the provider's name; $url the one-click unsubscribe link. Ends every marketing e-mail.
notifications-email-unsubscribe-footer =
    Вы получили это письмо, потому что подписаны на новости и предложения { $provider }.
    Отписаться: { $url }

## the unsubscribe pages

notifications-unsubscribe-title = Отписка от рассылки
notifications-unsubscribe-confirm = Больше не присылать вам новости и предложения? Уведомления о счёте, авариях и заявках продолжат приходить.
notifications-unsubscribe-button = Отписаться
notifications-unsubscribe-done = Готово: новости и предложения больше не придут. Включить рассылку снова можно в настройках уведомлений в личном кабинете.
notifications-unsubscribe-invalid = Ссылка для отписки повреждена или неполна. Откройте её из письма ещё раз или отключите рассылку в настройках уведомлений в личном кабинете.
