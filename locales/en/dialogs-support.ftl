# Support flows of the conversation engine (dialogs/flows/no_internet.py, tickets.py, documents.py,
# connect.py): no / slow internet, tickets, documents, a connection at a new address.

## Menu labels

dialogs-support-menu-no-internet = 📶 Internet is down
dialogs-support-menu-documents = 📄 Documents

## Shared

dialogs-support-yes = Yes
dialogs-support-no = No
dialogs-support-confirm = ✅ Confirm
dialogs-support-create-ticket = 📝 Open a ticket
dialogs-support-top-up = 💳 Top up
dialogs-support-promised = 🤝 Promised payment
# $minutes (number): settings.chat_first_reply_minutes
dialogs-support-reply-time = An operator will answer within { $minutes } { $minutes ->
        [one] minute
       *[other] minutes
    }.
dialogs-support-failed = The request did not go through. Please try again later or write to an operator.

## No internet

# $debt (number)
dialogs-support-noinet-blocked = Your internet is suspended for a debt of { NUMBER($debt, minimumFractionDigits: 2) } ₽. Top up and access returns within 2 minutes of the payment. If you cannot pay right now, take a promised payment.
# $debt (number)
dialogs-support-noinet-debt = Your account has a debt of { NUMBER($debt, minimumFractionDigits: 2) } ₽, so the internet may be suspended. Top up or take a promised payment.
dialogs-support-noinet-blocked-no-debt = Your internet is suspended. Top up and access returns within 2 minutes of the payment.
dialogs-support-noinet-check-more = 🔍 It is not the balance
# $until (string)
dialogs-support-noinet-frozen = Your service is frozen until { $until }, which is why the internet is off. Unfreeze now? The internet comes back at once and the fee is charged from today.
dialogs-support-noinet-unfreeze = ▶️ Unfreeze
dialogs-support-noinet-unfrozen = Done, the service is unfrozen. The internet will be back within 2 minutes.
dialogs-support-noinet-unfreeze-failed = The service could not be unfrozen: the freeze has already ended or has not started yet. If the internet still does not work, write to an operator.
# $title (string); $time (string): "16:00" or "September 21, 16:00"
dialogs-support-noinet-outage = There is an outage at your node: { $title }. Expected fix by { $time }. Shall I tell you when it is fixed?
# $title (string)
dialogs-support-noinet-outage-no-eta = There is an outage at your node: { $title }. We are fixing it. Shall I tell you when it is fixed?
dialogs-support-noinet-anonymous-outages = Known outages in our network right now:
dialogs-support-noinet-anonymous-item = • { $title } (expected fix: { $time })
dialogs-support-noinet-anonymous-none = There are no outages in our network right now.
dialogs-support-noinet-subscribed = OK, I will let you know as soon as it is fixed.
dialogs-support-noinet-not-subscribed = OK. If anything changes, write to me.
dialogs-support-noinet-router = Let's check. Restart your router: unplug it for 30 seconds, plug it back in and wait 2 minutes. Does it work now?
dialogs-support-noinet-router-done = 🔄 Restarted, still down
dialogs-support-noinet-router-helped = ✅ It works now
dialogs-support-noinet-helped = Great, glad it works!
dialogs-support-noinet-los = Is the LOS light or a red light on at your router or optical terminal?
dialogs-support-noinet-los-yes = 🔴 Yes, LOS / red is on
dialogs-support-noinet-los-no = No, looks normal
dialogs-support-noinet-wifi = Is it only Wi-Fi that fails, while a cable connection works?
dialogs-support-noinet-wifi-only = 📶 Only Wi-Fi
dialogs-support-noinet-wifi-all = 🔌 Cable fails too
dialogs-support-noinet-subject = No internet
# $number (number): the ticket id
dialogs-support-noinet-ticket = Opening a ticket "No internet": No. { $number }. Your answers are attached, so the engineer will not ask them again.
# the answers, as staff read them in the ticket's description
dialogs-support-noinet-summary = Router restarted: { $router }. LOS / red light: { $los }. Only Wi-Fi: { $wifi }.

## Slow internet

# $tariff (string); $down, $up (number): Mbit/s
dialogs-support-slow-tariff = Your tariff "{ $tariff }" gives up to { $down } Mbit/s download and up to { $up } Mbit/s upload.
dialogs-support-slow-no-tariff = I found no active tariff, but let's check the connection anyway.
dialogs-support-slow-link = How are you connected: by cable or over Wi-Fi?
dialogs-support-slow-cable = 🔌 Cable
dialogs-support-slow-wifi = 📶 Wi-Fi
dialogs-support-slow-speedtest = Open speedtest.net and run a test. What download speed did it show, in Mbit/s? Type the number.
dialogs-support-slow-speedtest-wifi = Over Wi-Fi the speed is usually below the tariff's: walls and neighbours' networks get in the way. For a precise test, connect a computer by cable. Open speedtest.net and run a test. What download speed did it show, in Mbit/s? Type the number.
dialogs-support-slow-no-test = Could not test
dialogs-support-slow-restart = Restart your router: switch it off for 30 seconds and on again. Is it faster now?
dialogs-support-slow-better = ✅ It is better
dialogs-support-slow-same = No change
dialogs-support-slow-helped = Great! If the speed drops again, write to me.
dialogs-support-slow-offer = Open a ticket "Slow internet"? I will attach your answers to it.
dialogs-support-slow-subject = Slow internet
# $link: cable | wifi; $measured (string): Mbit/s or "—"
dialogs-support-slow-summary = Connection: { $link ->
        [cable] cable
       *[wifi] Wi-Fi
    }. Speed test: { $measured } Mbit/s. Restarting the router did not help.
# $number (number)
dialogs-support-slow-ticket = Ticket "Slow internet" opened: No. { $number }.

## Open a ticket

dialogs-support-ticket-describe = Describe the problem in one message: what happened and since when.
dialogs-support-ticket-too-short = Please describe it in a little more detail, at least a few words.
dialogs-support-ticket-category = What is it about?
# $category: no_internet | slow_internet | payment | tariff | documents | equipment | connection | other
dialogs-support-category = { $category ->
        [no_internet] No internet
        [slow_internet] Slow / unstable internet
        [payment] Payments and balance
        [tariff] Tariff and services
        [documents] Documents
        [equipment] Equipment and Wi-Fi
        [connection] Connection and moving
       *[other] Other
    }
# $priority: low | medium | high | critical
dialogs-support-priority = { $priority ->
        [low] low
        [high] high
        [critical] critical
       *[medium] normal
    }
# $category (string), $priority (string), $description (string)
dialogs-support-ticket-confirm = Open this ticket?
    Topic: { $category }
    Priority: { $priority }
    Description: { $description }
# $number (number)
dialogs-support-ticket-created = Ticket No. { $number } is open. To follow it, write "ticket status { $number }".

## Ticket status

dialogs-support-status-none = You have no tickets yet.
# $count (number)
dialogs-support-status-latest = { $count ->
        [one] Your latest ticket:
       *[other] Your latest tickets:
    }
# $number (number); $subject (string); $status: open | in_progress | resolved | closed
dialogs-support-status-line = No. { $number } "{ $subject }": { $status ->
        [open] open
        [in_progress] in progress
        [resolved] resolved
       *[closed] closed
    }
dialogs-support-status-pick = Choose a ticket or type its number.
# $number (number)
dialogs-support-status-button = No. { $number }
# $number (number); $subject (string); $status (as in status-line); $created (string)
dialogs-support-status-detail = Ticket No. { $number } "{ $subject }" of { $created }: { $status ->
        [open] open, waiting for a specialist
        [in_progress] in progress
        [resolved] resolved
       *[closed] closed
    }.
# $reply (string)
dialogs-support-status-reply = Latest reply from support: "{ $reply }"
dialogs-support-status-no-reply = No reply from support yet.
# $number (string)
dialogs-support-status-not-found = I could not find ticket No. { $number } among yours. Please check the number.

## Documents

dialogs-support-docs-type = Which document do you need?
# $type: contract | invoice | act
dialogs-support-docs-kind = { $type ->
        [contract] 📃 Contract
        [invoice] 🧾 Invoice
       *[act] 📑 Act
    }
dialogs-support-docs-period = For which month?
# $month (string): "September 2025"
dialogs-support-docs-month = { $month }
dialogs-support-docs-bad-period = I did not get the month. Choose a button or type, e.g., "March 2025".
dialogs-support-docs-future = That month has not started yet; please choose another.
dialogs-support-docs-nothing-to-invoice = There is nothing to invoice for that month: the service was not active. Choose another month or ask for the act.
dialogs-support-docs-unavailable = Document storage is unavailable right now. Please try again in a few minutes.
# $type: contract | invoice | act
dialogs-support-docs-ready = { $type ->
        [contract] Your contract.
        [invoice] Your invoice.
       *[act] The act of services rendered.
    }
# $type (as above); $period (string): "September 2025"
dialogs-support-docs-ready-period = { $type ->
        [contract] Your contract
        [invoice] The invoice
       *[act] The act of services rendered
    } for { $period }.

## Connect at a new address

dialogs-support-connect-address = Happy to connect you! Type the address: city, street, building, apartment.
dialogs-support-connect-address-short = The address is too short. Type the city, street, building and apartment.
dialogs-support-connect-name = How should we address you?
dialogs-support-connect-phone = Your phone number for contact? E.g. +7 900 123-45-67.
dialogs-support-connect-bad-phone = That does not look like a phone number. Type it in digits, e.g. +7 900 123-45-67.
# $address, $name, $phone (string)
dialogs-support-connect-confirm = Please check the connection request:
    Address: { $address }
    Name: { $name }
    Phone: { $phone }
dialogs-support-connect-subject = Connection at a new address
# $address, $name, $phone (string): the ticket's description for staff
dialogs-support-connect-description = Address: { $address }. Contact: { $name }, { $phone }.
# $number (number); $phone (string)
dialogs-support-connect-created = Connection request No. { $number } is accepted. We will call { $phone } within a business day to check the technical possibility and agree on the installation time.
