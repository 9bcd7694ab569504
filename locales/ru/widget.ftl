# Виджет чата на сайте (/widget.js) и демо-страница (/). /widget.js встраивает все сообщения
# `widget-` обоих языков; переменную вида `{ $name }` подставляет сам виджет.

## Виджет

widget-title = Поддержка
widget-open = Открыть чат поддержки
widget-close = Закрыть чат
widget-messages = Переписка
widget-input-label = Ваше сообщение
widget-input-placeholder = Напишите сообщение…
widget-send = Отправить
widget-attach = Прикрепить фото или файл
widget-sign-in = Войти
widget-sign-out = Выйти
# $name (string) имя клиента
widget-signed-in-as = Вы вошли: { $name }
widget-connecting = Подключаемся…
widget-reconnecting = Нет связи. Подключаемся снова…
widget-online = На связи
widget-origin-refused = Чат недоступен на этом сайте.
widget-you = Вы
widget-bot = Бот
widget-agent = Оператор
widget-system = Уведомление
widget-typing-bot = Бот печатает…
# $name (string) имя оператора
widget-typing-agent = { $name } печатает…
widget-typing-agent-anonymous = Оператор печатает…
widget-pending = Отправляется…
widget-failed = Не отправлено
widget-error-generic = Что-то пошло не так. Попробуйте ещё раз.

## Вход в чате

widget-consent-title = Согласие на обработку персональных данных
widget-consent-text = Чтобы войти, разрешите нам обрабатывать ваши персональные данные (Федеральный закон № 152-ФЗ).
widget-consent-label = Я согласен(на) на обработку моих персональных данных
widget-consent-policy = Политика обработки персональных данных
widget-consent-needed = Отметьте согласие, чтобы продолжить.
widget-continue = Продолжить
widget-cancel = Отмена
widget-login-title = Вход в личный кабинет
widget-login-label = Номер договора, e-mail или телефон
widget-password-label = Пароль
widget-code-title = Подтвердите вход
widget-code-label = Код из приложения-аутентификатора или резервный код
widget-sign-in-submit = Войти
widget-confirm = Подтвердить
widget-signed-out = Вы вышли из аккаунта.
widget-session-ended = Вход в чате закончился. Войдите снова.

## Сообщения

# $filename (string)
widget-download = Скачать { $filename }
widget-download-failed = Не удалось скачать файл. Попробуйте ещё раз.
widget-download-sign-in = Войдите, чтобы скачать документ.
# $amount (string) сумма с валютой
widget-pay = Оплатить { $amount }
# $max (string) наибольший размер в МБ
widget-file-too-large = Файл слишком большой: не больше { $max } МБ.
widget-file-type = Прикрепить можно фото (JPEG, PNG, WebP, GIF), PDF или текстовый файл.
widget-upload-failed = Не удалось отправить файл. Попробуйте ещё раз.
widget-uploading = Отправляем файл…

## Демо-страница (/)

widget-demo-title = СетьПлюс: домашний интернет
widget-demo-nav-tariffs = Тарифы
widget-demo-nav-support = Поддержка
widget-demo-nav-agents = Операторам
widget-demo-nav-api = API
widget-demo-lang-switch = English
widget-demo-hero-title = Быстрый домашний интернет для всей семьи
widget-demo-hero-text = Оптика до квартиры, роутер в подарок, подключение за два дня. Есть вопрос? Наш чат отвечает круглосуточно.
widget-demo-hero-cta = Спросить в чате
widget-demo-tariffs-title = Тарифы
# $down (number) Мбит/с
widget-demo-tariff-speed = до { $down } Мбит/с
# $price (string) цена с валютой
widget-demo-tariff-price = { $price } в месяц
widget-demo-tariffs-empty = Тарифы скоро появятся.
widget-demo-try-title = Попробуйте
widget-demo-try-text = Откройте чат в углу страницы: спросите о тарифах без входа или нажмите в чате «Войти» и войдите демо-аккаунтом.
# $login (string), $password (string)
widget-demo-try-account = Демо-аккаунт: договор { $login }, пароль { $password }
widget-demo-try-agents = Консоль операторов
widget-demo-try-api = Документация API
widget-demo-footer = СетьПлюс — вымышленный провайдер: эта страница показывает, как сайт провайдера встраивает чат provider-desk.
