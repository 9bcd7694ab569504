## Telegram: linking a contract to the chat (bot/linking.py)

telegram-link-welcome = Connect your contract to see your balance, top up and write to support.
    The fastest way: press "Connect Telegram" in your account.
    Or press "📱 Share my number" below and type your contract number.
telegram-link-share-button = 📱 Share my number
telegram-linked = ✅ Contract { $contract } is connected
telegram-link-invalid = This link is not valid: it was used already or has expired (a link lasts 10 minutes).
    Get a new one in your account ("Connect Telegram") or press "📱 Share my number" and type your contract number.
telegram-link-foreign-contact = Please share your own number with the "📱 Share my number" button: someone else's contact cannot be connected.
telegram-link-phone-unknown = We found no contract with this phone number. Connect Telegram from your account ("Connect Telegram") or contact support.
telegram-link-ask-contract = Thank you! Now type your contract number.
telegram-link-wrong-contract = The contract number does not match this phone. Please check it and try again.
telegram-link-too-many = Too many attempts. Please try again in an hour or connect Telegram from your account.
telegram-not-linked = No contract is connected to this Telegram account.
telegram-unlink-confirm = Disconnect contract { $contract } from this Telegram account? Your balance and notifications will no longer be available here.
telegram-unlink-yes = Yes, disconnect
telegram-unlink-no = Cancel
telegram-unlinked = The contract is disconnected from this Telegram account. Send /start to connect again.
telegram-unlink-cancelled = All right, the contract stays connected.

## Telegram Payments: the reply to successful_payment (bot/handlers.py)
# $amount, $balance (numbers, RUB)
telegram-payment-credited = ✅ { NUMBER($amount, minimumFractionDigits: 2) } RUB credited · balance { NUMBER($balance, minimumFractionDigits: 2) } RUB
telegram-payment-credited-restored = ✅ { NUMBER($amount, minimumFractionDigits: 2) } RUB credited · balance { NUMBER($balance, minimumFractionDigits: 2) } RUB
    The internet will be back within 2 minutes.
telegram-payment-under-review = Your payment was received but could not be credited automatically. We will check it and credit it by hand; there is nothing you need to do.

## Group chats (TELEGRAM_GROUP_CHATS=true; bot/handlers.py)
telegram-group-private = I answer in a private chat, so that your account stays private. Write to me there.
telegram-group-open-chat = Open a private chat

## Buttons under notifications in Telegram (notifications/telegram.py)
telegram-notice-pay = 💳 Pay now
telegram-notice-promised = 🤝 Promised payment
telegram-notice-ticket = Open the ticket
