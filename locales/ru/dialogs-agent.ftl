# Тексты консоли оператора для клиентов и заявок (backend/webchat/console_service.py,
# dialogs/handover.py).

# Оператор ушёл из сети, пока клиент ждал ответа; $minutes (число)
dialogs-handover-requeued = Оператору пришлось отойти. Другой оператор ответит в течение { $minutes } { $minutes ->
        [one] минуты
       *[other] минут
    } и увидит всю переписку.
# {balance} в шаблоне ответа; $amount в рублях
dialogs-agent-money = { NUMBER($amount, minimumFractionDigits: 2) } ₽
# {agent} в шаблоне, когда у оператора не задано имя
dialogs-agent-generic-name = ваш оператор
# Заявка из разговора: её описание и последние сообщения
dialogs-agent-ticket-intro = Создана из разговора #{ $id } ({ $channel }). Последние сообщения:
dialogs-agent-ticket-from-customer = Клиент
dialogs-agent-ticket-from-bot = Бот
dialogs-agent-ticket-from-agent = Оператор
dialogs-agent-ticket-from-system = Уведомление
# Клиенту в чате
dialogs-agent-ticket-opened = Мы открыли заявку №{ $id } «{ $subject }». Напишем, когда будут новости.

error-conversation-anonymous = Клиент ещё не вошёл в этом чате. Попросите его сначала войти.
error-canned-response-not-found = Такого шаблона ответа нет, или он отключён.
