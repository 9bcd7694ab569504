# Меню команд бота (setMyCommands), по одному описанию на команду, 1..256 символов.
# bot/commands.py: ключ telegram-command-<команда>.

telegram-command-start = Начать и привязать договор
telegram-command-balance = Баланс и сколько дней осталось
telegram-command-pay = Пополнить баланс
telegram-command-tariffs = Тарифы и смена тарифа
telegram-command-tickets = Обращения в поддержку
telegram-command-documents = Договор, счета и акты
telegram-command-agent = Связаться с оператором
telegram-command-language = Сменить язык
telegram-command-help = Что умеет бот
