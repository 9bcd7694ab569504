# Text of the PDF documents (backend/documents/generate.py): contract, invoice, monthly act.
# Amounts and dates arrive already formatted for the locale.

## common

# $inn, $kpp, $ogrn: the provider's tax ids.
documents-provider-tax-ids = INN { $inn } · KPP { $kpp } · OGRN { $ogrn }
# $account, $bank, $bik, $correspondent: bank details.
documents-provider-bank = Account { $account } at { $bank } · BIC { $bik } · corr. account { $correspondent }
documents-provider-contacts = Tel. { $phone } · { $email } · { $url }
# $title the document title; $page and $pages the page number and count.
documents-footer = { $title } · page { $page } of { $pages }
documents-period = { $start } – { $end }
documents-dated = dated { $date }
documents-not-specified = not specified
documents-month =
    { $month ->
        [1] January
        [2] February
        [3] March
        [4] April
        [5] May
        [6] June
        [7] July
        [8] August
        [9] September
        [10] October
        [11] November
       *[12] December
    }
documents-address-building = bldg. { $value }
documents-address-apartment = apt. { $value }

documents-label-customer = Customer
documents-label-contract = Contract
documents-label-address = Service address
documents-label-phone = Phone
documents-label-email = Email

documents-col-number = No.
documents-col-service = Service
documents-col-period = Period
documents-col-quantity = Qty
documents-col-unit = Unit
documents-col-amount = Amount
documents-col-item = Item
documents-unit-day = days
documents-unit-month = months
documents-unit-piece = pcs
documents-total = Total
documents-vat = VAT not applicable

# $tariff the tariff's name.
documents-line-tariff = Internet access, tariff “{ $tariff }”
documents-line-internet = Internet access
documents-line-fee = Additional services
documents-line-other = Other services and fees
documents-line-services = Telecommunication services

documents-signature-provider = Provider
documents-signature-customer = Customer

## contract

documents-contract-title = Contract No. { $number }
documents-contract-heading = Internet access service contract No. { $number }
# $provider the provider's legal name; $customer the customer's full name.
documents-contract-parties = { $provider } (the “Provider”) and { $customer } (the “Customer”) have agreed as follows.
documents-contract-section-customer = 1. Customer
documents-contract-section-service = 2. Service and tariff
documents-contract-tariff = Tariff
documents-contract-no-tariff = no tariff connected
documents-contract-speed = Speed
documents-contract-speed-value = up to { $down } Mbit/s download, up to { $up } Mbit/s upload
documents-contract-price = Subscription fee
# $period daily | monthly.
documents-contract-price-value =
    { $period ->
        [daily] { $price } per day
       *[monthly] { $price } per month
    }
documents-contract-section-terms = 3. Key terms
# $mode daily_share | period_start (how a monthly fee is charged).
documents-contract-term-payment =
    { $mode ->
        [period_start] 3.1. Services are prepaid. The monthly fee is debited from the account on the first day of each month.
       *[other] 3.1. Services are prepaid. The subscription fee is debited from the account daily, in equal shares for each day of the month.
    }
documents-contract-term-block = 3.2. When the balance is negative, internet access is suspended; it is restored automatically as soon as a top-up covers the debt.
documents-contract-term-options = 3.3. The Customer may use a promised payment and a voluntary suspension of services (vacation) on the terms published by the Provider.
documents-contract-term-documents = 3.4. The Provider issues a monthly act of services rendered and, on request, an invoice; documents are available in the customer account.
documents-contract-term-tariff = 3.5. The Customer may change the tariff in the customer account. The Provider announces price changes at least 10 days in advance.
documents-contract-term-end = 3.6. The contract has no fixed term. The Customer may terminate it at any time after paying for the services rendered.
documents-contract-section-signatures = 4. Signatures

## invoice

documents-invoice-title = Invoice { $number }
documents-invoice-heading = Invoice No. { $number }
documents-invoice-payer = Payer
documents-invoice-period = Billing period
documents-invoice-issued = Issue date
documents-invoice-due = Due date
documents-invoice-total = Total due
documents-invoice-how-to-pay-heading = How to pay
# $url the provider's site; $number the invoice number; $contract the contract number.
documents-invoice-how-to-pay = Pay this invoice in your customer account at { $url } or in our Telegram bot; the money reaches your account at once. For a bank transfer use the details at the top of this invoice and state “Payment for invoice { $number }, contract { $contract }” as the payment reference.

## act

# $month the month's name (documents-month); $year the year.
documents-act-title = Act for { $month } { $year }
documents-act-heading = Act of services rendered No. { $number }
documents-act-period = Reporting period
documents-act-section-services = Services rendered
documents-act-no-services = No services were charged in this period.
documents-act-total = Total services rendered
documents-act-section-balance = Account for the period
documents-act-opening = Opening balance ({ $date })
documents-act-charged = Charged for services
documents-act-other = Payments and other transactions
documents-act-closing = Closing balance ({ $date })
documents-act-statement = The services were rendered in full and on time. Unless the Customer raises a claim within 10 days of the date of this act, the services are deemed accepted.
