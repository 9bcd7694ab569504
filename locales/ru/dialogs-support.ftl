# Support flows of the conversation engine (dialogs/flows/no_internet.py, tickets.py, documents.py,
# connect.py): no / slow internet, tickets, documents, a connection at a new address.

## Menu labels

dialogs-support-menu-no-internet = 📶 Не работает интернет
dialogs-support-menu-documents = 📄 Документы

## Shared

dialogs-support-yes = Да
dialogs-support-no = Нет
dialogs-support-confirm = ✅ Подтвердить
dialogs-support-create-ticket = 📝 Создать заявку
dialogs-support-top-up = 💳 Пополнить
dialogs-support-promised = 🤝 Обещанный платёж
# $minutes (number): settings.chat_first_reply_minutes
dialogs-support-reply-time = Оператор ответит за { $minutes } { $minutes ->
        [one] минуту
        [few] минуты
       *[many] минут
    }.
dialogs-support-failed = Не получилось выполнить запрос. Попробуйте позже или напишите оператору.

## No internet

# $debt (number)
dialogs-support-noinet-blocked = Интернет отключён за долг { NUMBER($debt, minimumFractionDigits: 2) } ₽. Пополните счёт — доступ вернётся в течение 2 минут после оплаты. Если сейчас нет возможности, подключите обещанный платёж.
# $debt (number)
dialogs-support-noinet-debt = На счёте долг { NUMBER($debt, minimumFractionDigits: 2) } ₽ — из-за него интернет может быть отключён. Пополните счёт или подключите обещанный платёж.
dialogs-support-noinet-blocked-no-debt = Интернет приостановлен. Пополните счёт — доступ вернётся в течение 2 минут после оплаты.
dialogs-support-noinet-check-more = 🔍 Дело не в балансе
# $until (string)
dialogs-support-noinet-frozen = Услуга заморожена до { $until }, поэтому интернет не работает. Разморозить сейчас? Интернет включится сразу, абонентская плата начнёт списываться с сегодняшнего дня.
dialogs-support-noinet-unfreeze = ▶️ Разморозить
dialogs-support-noinet-unfrozen = Готово, услуга разморожена. Интернет включится в течение 2 минут.
dialogs-support-noinet-unfreeze-failed = Не получилось разморозить услугу: заморозка уже закончилась или ещё не началась. Если интернет не работает, напишите оператору.
# $title (string); $time (string): "16:00" or "21 сентября, 16:00"
dialogs-support-noinet-outage = Авария на узле: { $title }. Ориентир { $time }. Сообщить, когда починят?
# $title (string)
dialogs-support-noinet-outage-no-eta = Авария на узле: { $title }. Уже устраняем. Сообщить, когда починят?
dialogs-support-noinet-anonymous-outages = Сейчас в сети известны аварии:
dialogs-support-noinet-anonymous-item = • { $title } (ориентир: { $time })
dialogs-support-noinet-anonymous-none = Сейчас аварий в нашей сети нет.
dialogs-support-noinet-subscribed = Хорошо, сообщу, как только починят.
dialogs-support-noinet-not-subscribed = Хорошо. Если что-то изменится — пишите.
dialogs-support-noinet-router = Давайте проверим. Перезагрузите роутер: выключите его из розетки на 30 секунд и включите снова, подождите 2 минуты. Заработало?
dialogs-support-noinet-router-done = 🔄 Перезагрузил, не работает
dialogs-support-noinet-router-helped = ✅ Заработало
dialogs-support-noinet-helped = Отлично, рад, что заработало!
dialogs-support-noinet-los = Горит ли на роутере или оптическом терминале индикатор LOS или красная лампа?
dialogs-support-noinet-los-yes = 🔴 Да, горит LOS / красный
dialogs-support-noinet-los-no = Нет, всё как обычно
dialogs-support-noinet-wifi = Не работает только Wi-Fi, а по кабелю интернет есть?
dialogs-support-noinet-wifi-only = 📶 Только Wi-Fi
dialogs-support-noinet-wifi-all = 🔌 И по кабелю не работает
dialogs-support-noinet-subject = Нет интернета
# $number (number): the ticket id
dialogs-support-noinet-ticket = Создаю заявку «Нет интернета» — №{ $number }. Ответы на проверки приложены к заявке, мастеру не придётся спрашивать их снова.
# the answers, as staff read them in the ticket's description
dialogs-support-noinet-summary = Роутер перезагружен: { $router }. LOS / красный индикатор: { $los }. Только Wi-Fi: { $wifi }.

## Slow internet

# $tariff (string); $down, $up (number): Mbit/s
dialogs-support-slow-tariff = По тарифу «{ $tariff }» скорость до { $down } Мбит/с на загрузку и до { $up } Мбит/с на отдачу.
dialogs-support-slow-no-tariff = Активного тарифа не нашёл, но давайте всё равно проверим соединение.
dialogs-support-slow-link = Как вы подключены: по кабелю или по Wi-Fi?
dialogs-support-slow-cable = 🔌 По кабелю
dialogs-support-slow-wifi = 📶 По Wi-Fi
dialogs-support-slow-speedtest = Откройте speedtest.net и запустите замер. Сколько Мбит/с показала загрузка? Напишите число.
dialogs-support-slow-speedtest-wifi = По Wi-Fi скорость обычно ниже тарифной: мешают стены и соседские сети. Для точного замера подключите компьютер кабелем. Откройте speedtest.net и запустите замер. Сколько Мбит/с показала загрузка? Напишите число.
dialogs-support-slow-no-test = Не получилось замерить
dialogs-support-slow-restart = Перезагрузите роутер: выключите его на 30 секунд и включите снова. Стало быстрее?
dialogs-support-slow-better = ✅ Стало лучше
dialogs-support-slow-same = Не помогло
dialogs-support-slow-helped = Отлично! Если скорость снова упадёт — пишите.
dialogs-support-slow-offer = Создать заявку «Медленный интернет»? Ответы на проверки приложу к ней.
dialogs-support-slow-subject = Медленный интернет
# $link: cable | wifi; $measured (string): Mbit/s or "—"
dialogs-support-slow-summary = Подключение: { $link ->
        [cable] кабель
       *[wifi] Wi-Fi
    }. Замер скорости: { $measured } Мбит/с. Перезагрузка роутера не помогла.
# $number (number)
dialogs-support-slow-ticket = Заявка «Медленный интернет» создана — №{ $number }.

## Open a ticket

dialogs-support-ticket-describe = Опишите проблему одним сообщением: что случилось и с какого времени.
dialogs-support-ticket-too-short = Опишите, пожалуйста, подробнее — хотя бы несколько слов.
dialogs-support-ticket-category = К чему это относится?
# $category: no_internet | slow_internet | payment | tariff | documents | equipment | connection | other
dialogs-support-category = { $category ->
        [no_internet] Нет интернета
        [slow_internet] Медленный / нестабильный интернет
        [payment] Оплата и баланс
        [tariff] Тариф и услуги
        [documents] Документы
        [equipment] Оборудование и Wi-Fi
        [connection] Подключение и переезд
       *[other] Другое
    }
# $priority: low | medium | high | critical
dialogs-support-priority = { $priority ->
        [low] низкий
        [high] высокий
        [critical] критический
       *[medium] обычный
    }
# $category (string), $priority (string), $description (string)
dialogs-support-ticket-confirm = Создать заявку?
    Тема: { $category }
    Приоритет: { $priority }
    Описание: { $description }
# $number (number)
dialogs-support-ticket-created = Заявка №{ $number } создана. Следить за ней можно здесь: напишите «статус заявки { $number }».

## Ticket status

dialogs-support-status-none = У вас пока нет заявок.
# $count (number)
dialogs-support-status-latest = { $count ->
        [one] Ваша последняя заявка:
       *[other] Ваши последние заявки:
    }
# $number (number); $subject (string); $status: open | in_progress | resolved | closed
dialogs-support-status-line = №{ $number } «{ $subject }» — { $status ->
        [open] открыта
        [in_progress] в работе
        [resolved] решена
       *[closed] закрыта
    }
dialogs-support-status-pick = Выберите заявку или напишите её номер.
# $number (number)
dialogs-support-status-button = №{ $number }
# $number (number); $subject (string); $status (as in status-line); $created (string)
dialogs-support-status-detail = Заявка №{ $number } «{ $subject }» от { $created }: { $status ->
        [open] открыта, ждёт специалиста
        [in_progress] в работе
        [resolved] решена
       *[closed] закрыта
    }.
# $reply (string)
dialogs-support-status-reply = Последний ответ поддержки: «{ $reply }»
dialogs-support-status-no-reply = Ответа поддержки пока нет.
# $number (string)
dialogs-support-status-not-found = Заявку №{ $number } не нашёл среди ваших. Проверьте номер.

## Documents

dialogs-support-docs-type = Какой документ нужен?
# $type: contract | invoice | act
dialogs-support-docs-kind = { $type ->
        [contract] 📃 Договор
        [invoice] 🧾 Счёт
       *[act] 📑 Акт
    }
dialogs-support-docs-period = За какой месяц?
# $month (string): "сентябрь 2025"
dialogs-support-docs-month = { $month }
dialogs-support-docs-bad-period = Не понял месяц. Выберите кнопкой или напишите, например, «март 2025».
dialogs-support-docs-future = Этот месяц ещё не начался — выберите другой.
dialogs-support-docs-nothing-to-invoice = За этот месяц выставлять нечего: услуга не действовала. Выберите другой месяц или запросите акт.
dialogs-support-docs-unavailable = Хранилище документов сейчас недоступно. Попробуйте через несколько минут.
# $type: contract | invoice | act
dialogs-support-docs-ready = { $type ->
        [contract] Ваш договор.
        [invoice] Ваш счёт.
       *[act] Акт оказанных услуг.
    }
# $type (as above); $period (string): "сентябрь 2025"
dialogs-support-docs-ready-period = { $type ->
        [contract] Ваш договор
        [invoice] Счёт
       *[act] Акт оказанных услуг
    } за { $period }.

## Connect at a new address

dialogs-support-connect-address = Подключим! Напишите адрес: город, улица, дом, квартира.
dialogs-support-connect-address-short = Адрес слишком короткий. Напишите город, улицу, дом и квартиру.
dialogs-support-connect-name = Как к вам обращаться?
dialogs-support-connect-phone = Номер телефона для связи? Например, +7 900 123-45-67.
dialogs-support-connect-bad-phone = Не похоже на номер телефона. Напишите его цифрами, например +7 900 123-45-67.
# $address, $name, $phone (string)
dialogs-support-connect-confirm = Проверьте заявку на подключение:
    Адрес: { $address }
    Имя: { $name }
    Телефон: { $phone }
dialogs-support-connect-subject = Подключение по новому адресу
# $address, $name, $phone (string): the ticket's description for staff
dialogs-support-connect-description = Адрес: { $address }. Контакт: { $name }, { $phone }.
# $number (number); $phone (string)
dialogs-support-connect-created = Заявка на подключение №{ $number } принята. Мы позвоним на { $phone } в течение рабочего дня: проверим техническую возможность и договоримся о времени монтажа.
