# Заголовки push-уведомлений (notifications/push.py): по одному на вид уведомления; текст
# уведомления идёт в тело. Коротко: телефон показывает около 40 символов.

notifications-push-title-billing = Баланс и платежи
notifications-push-title-tickets = Поддержка
notifications-push-title-outages = Состояние сети
notifications-push-title-security = Безопасность аккаунта
notifications-push-title-default = Личный кабинет
