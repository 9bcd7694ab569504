# Text of the PDF documents (backend/documents/generate.py): contract, invoice, monthly act.
# Amounts and dates arrive already formatted for the locale.

## common

# $inn, $kpp, $ogrn: the provider's tax ids.
documents-provider-tax-ids = ИНН { $inn } · КПП { $kpp } · ОГРН { $ogrn }
# $account, $bank, $bik, $correspondent: bank details.
documents-provider-bank = Р/с { $account } в { $bank } · БИК { $bik } · к/с { $correspondent }
documents-provider-contacts = Тел. { $phone } · { $email } · { $url }
# $title the document title; $page and $pages the page number and count.
documents-footer = { $title } · страница { $page } из { $pages }
documents-period = { $start } – { $end }
documents-dated = от { $date }
documents-not-specified = не указан
documents-month =
    { $month ->
        [1] январь
        [2] февраль
        [3] март
        [4] апрель
        [5] май
        [6] июнь
        [7] июль
        [8] август
        [9] сентябрь
        [10] октябрь
        [11] ноябрь
       *[12] декабрь
    }
documents-address-building = д. { $value }
documents-address-apartment = кв. { $value }

documents-label-customer = Абонент
documents-label-contract = Договор
documents-label-address = Адрес подключения
documents-label-phone = Телефон
documents-label-email = Эл. почта

documents-col-number = №
documents-col-service = Наименование услуги
documents-col-period = Период
documents-col-quantity = Кол-во
documents-col-unit = Ед.
documents-col-amount = Сумма
documents-col-item = Статья
documents-unit-day = дн.
documents-unit-month = мес.
documents-unit-piece = шт.
documents-total = Итого
documents-vat = Без налога (НДС)

# $tariff the tariff's name.
documents-line-tariff = Доступ в интернет по тарифу «{ $tariff }»
documents-line-internet = Доступ в интернет
documents-line-fee = Дополнительные услуги
documents-line-other = Прочие услуги и сборы
documents-line-services = Услуги связи

documents-signature-provider = Оператор
documents-signature-customer = Абонент

## contract

documents-contract-title = Договор № { $number }
documents-contract-heading = Договор № { $number } об оказании услуг доступа в интернет
# $provider the provider's legal name; $customer the customer's full name.
documents-contract-parties = { $provider }, далее «Оператор», и { $customer }, далее «Абонент», заключили настоящий договор о нижеследующем.
documents-contract-section-customer = 1. Абонент
documents-contract-section-service = 2. Услуга и тариф
documents-contract-tariff = Тариф
documents-contract-no-tariff = тариф не подключён
documents-contract-speed = Скорость
documents-contract-speed-value = до { $down } Мбит/с к абоненту, до { $up } Мбит/с от абонента
documents-contract-price = Абонентская плата
# $period daily | monthly.
documents-contract-price-value =
    { $period ->
        [daily] { $price } в сутки
       *[monthly] { $price } в месяц
    }
documents-contract-section-terms = 3. Основные условия
# $mode daily_share | period_start (how a monthly fee is charged).
documents-contract-term-payment =
    { $mode ->
        [period_start] 3.1. Услуги оказываются по предоплате. Абонентская плата за месяц списывается с лицевого счёта в первый день месяца.
       *[other] 3.1. Услуги оказываются по предоплате. Абонентская плата списывается с лицевого счёта ежедневно, равными долями за каждый день месяца.
    }
documents-contract-term-block = 3.2. При отрицательном балансе доступ в интернет приостанавливается и возобновляется автоматически, как только пополнение покроет долг.
documents-contract-term-options = 3.3. Абонент может подключить обещанный платёж и добровольную приостановку услуг (заморозку) на условиях, опубликованных Оператором.
documents-contract-term-documents = 3.4. Оператор ежемесячно составляет акт оказанных услуг и по запросу Абонента выставляет счёт на оплату; документы доступны в личном кабинете.
documents-contract-term-tariff = 3.5. Абонент может сменить тариф в личном кабинете. Об изменении цен Оператор уведомляет Абонента не позднее чем за 10 дней.
documents-contract-term-end = 3.6. Договор заключён на неопределённый срок. Абонент может расторгнуть его в любое время, оплатив оказанные услуги.
documents-contract-section-signatures = 4. Подписи сторон

## invoice

documents-invoice-title = Счёт № { $number }
documents-invoice-heading = Счёт на оплату № { $number }
documents-invoice-payer = Плательщик
documents-invoice-period = Расчётный период
documents-invoice-issued = Дата выставления
documents-invoice-due = Оплатить до
documents-invoice-total = Итого к оплате
documents-invoice-how-to-pay-heading = Как оплатить
# $url the provider's site; $number the invoice number; $contract the contract number.
documents-invoice-how-to-pay = Оплатите счёт в личном кабинете { $url } или в нашем Telegram-боте — деньги поступят на лицевой счёт сразу. Для банковского перевода используйте реквизиты в шапке счёта и укажите в назначении платежа: «Оплата по счёту { $number }, договор { $contract }».

## act

# $month the month's name (documents-month); $year the year.
documents-act-title = Акт за { $month } { $year }
documents-act-heading = Акт оказанных услуг № { $number }
documents-act-period = Отчётный период
documents-act-section-services = Оказанные услуги
documents-act-no-services = За этот период услуги не начислялись.
documents-act-total = Итого оказано услуг
documents-act-section-balance = Лицевой счёт за период
documents-act-opening = Баланс на начало периода ({ $date })
documents-act-charged = Начислено за услуги
documents-act-other = Платежи и прочие операции
documents-act-closing = Баланс на конец периода ({ $date })
documents-act-statement = Услуги оказаны полностью и в срок. Если Абонент не заявит претензий в течение 10 дней с даты акта, услуги считаются принятыми без замечаний.
