# Консоль операторов (/agent): вход, страница консоли, страница заявок.

console-title = Консоль поддержки
console-language = Язык
console-sections = Разделы
console-nav-chats = Диалоги
console-nav-tickets = Заявки

## Вход
console-login-title = Вход в консоль поддержки
console-login-email = E-mail
console-login-password = Пароль
console-login-submit = Войти
console-login-code-hint = Введите 6-значный код из приложения-аутентификатора.
console-login-code = Код
console-login-recovery-toggle = Войти по резервному коду
console-login-recovery = Резервный код
console-login-verify = Подтвердить
console-login-restart = Начать заново
console-login-error-credentials = Неверный e-mail или пароль.
console-login-error-rate-limited = Слишком много попыток. Подождите немного и попробуйте снова.
console-login-error-enrolment = У вашей учётной записи ещё нет двухфакторной аутентификации. Попросите у администратора ссылку для подключения, затем войдите здесь.
console-login-error-otp = Код неверный, устарел или уже использован.
console-login-error-expired = Время этого шага входа истекло. Введите пароль ещё раз.
console-login-error-code-required = Введите код из приложения или резервный код.
console-login-error-not-staff = Консоль — для сотрудников поддержки. Клиенты пишут в чат на сайте или в Telegram-бот.
console-login-error-csrf = Форма устарела. Обновите страницу и попробуйте снова.
console-login-error-generic = Войти не удалось. Попробуйте снова.
error-csrf-failed = Страница устарела. Обновите её и попробуйте снова.

## Шапка
console-search-label = Поиск клиентов
console-search-placeholder = Договор, телефон, имя, @telegram
console-search-empty = Никого не нашлось
console-presence-label = Мой статус
console-agent-online = На связи
console-agent-away = Отошёл
console-agent-offline = Не в сети
console-logout = Выйти
console-enable-alerts = Включить оповещения

## Справка
console-help-title = Горячие клавиши
console-help-next-prev = следующий / предыдущий диалог в списках
console-help-claim = взять открытый диалог
console-help-reply = написать ответ
console-help-note = написать внутреннюю заметку
console-help-bot = вернуть диалог боту
console-help-send = отправить
console-help-canned = шаблоны ответов
console-help-search = поиск клиентов
console-help-tickets = перейти к заявкам
console-help-chats = перейти к диалогам
console-help-help = эта справка
console-help-escape = закрыть окно
console-close-dialog = Закрыть

## Очередь
console-queue-title = Ожидают
console-queue-empty = Никто не ждёт.
console-mine-title = Мои диалоги
console-mine-empty = У вас нет диалогов.
console-waiting-for = ждёт
console-channel-telegram = Telegram
console-channel-webchat = Чат на сайте
console-new-waiting = Клиент ждёт оператора
console-new-waiting-body = В очереди новый диалог.

## Диалог
console-no-conversation = Выберите диалог
console-transcript = Диалог
console-claim = Взять
console-release = Вернуть боту
console-close = Закрыть
console-close-resolution = Итог
console-make-ticket = Создать заявку
console-transfer = Передать
console-bot-details = Что собрал бот
console-note-mode = Внутренняя заметка
console-canned = Шаблоны ответов
console-canned-filter = Фильтр
console-canned-empty = Шаблонов нет.
console-payment-link = Ссылка на оплату
console-payment-amount = Сумма
console-reply-label = Ответ
console-reply-placeholder = Напишите ответ… (Ctrl+Enter — отправить)
console-send = Отправить
console-cancel = Отмена
console-ticket-subject = Тема
console-ticket-category = Категория
console-from-customer = Клиент
console-from-bot = Бот
console-from-agent = Оператор
console-from-system = Уведомление
console-note = Внутренняя заметка
console-attachment = Вложение
console-document = Документ
console-payment = Ссылка на оплату
console-claimed-by = Диалог уже взял(а) { $name }.
console-claimed-by-unknown = Диалог уже взял другой оператор.
console-claim-won = Диалог ваш.
console-customer-typing = Клиент печатает…
console-sent = Отправлено.
console-note-saved = Заметка сохранена.
console-released = Диалог возвращён боту.
console-closed = Диалог закрыт.
console-ticket-made = Заявка создана.
console-transferred = Диалог передан.
console-payment-sent = Ссылка на оплату отправлена.
console-amount-invalid = Введите сумму, например 500 или 1500.50.
console-transfer-none = Других операторов нет.
console-state-waiting-agent = ждёт оператора
console-state-agent = у оператора
console-state-bot = у бота
console-state-closed = закрыт
console-error-generic = Не получилось. Попробуйте ещё раз.
console-error-network = Нет связи с сервером. Повторяем…
console-session-ended = Сеанс завершён. Входим заново…
console-yes = да
console-no = нет
console-conversations-of = Диалоги

## Карточка клиента
console-card-title = Клиент
console-card-none = К диалогу не привязан клиент.
console-card-contract = Договор
console-card-balance = Баланс
console-card-days-left = Осталось дней
console-card-tariff = Тариф
console-card-status = Статус
console-card-promised = Обещанный платёж
console-card-freeze = Приостановка
console-card-tickets = Открытые заявки
console-card-payments = Последние платежи
console-card-documents = Документы
console-card-send-document = Отправить
console-card-channels = Каналы

## Заявки
console-tickets-title = Заявки
console-tickets-empty = Подходящих заявок нет.
console-ticket-none = Выберите заявку
console-ticket-status = Статус
console-ticket-priority = Приоритет
console-ticket-text = Текст
console-ticket-internal = Внутренняя заметка
console-ticket-saved = Сохранено.
console-any = любой
console-ticket-status-open = открыта
console-ticket-status-in-progress = в работе
console-ticket-status-resolved = решена
console-ticket-status-closed = закрыта
console-ticket-priority-low = низкий
console-ticket-priority-medium = средний
console-ticket-priority-high = высокий
console-ticket-priority-critical = критический
console-category-no-internet = Нет интернета
console-category-slow-internet = Низкая скорость
console-category-payment = Оплата
console-category-tariff = Тариф
console-category-documents = Документы
console-category-equipment = Оборудование
console-category-connection = Подключение
console-category-other = Другое

## The delivery log on the customer card
console-card-notifications = Уведомления
console-channel-fcm = Push
console-channel-email = E-mail
console-channel-sms = SMS
console-delivery-sent = доставлено
console-delivery-failed = недоступен
console-delivery-sending = отправляется
console-delivery-retry = повтор
console-delivery-dead = не доставлено
