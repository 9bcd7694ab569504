# The agent console (/agent): sign-in, the console page, the tickets page.

console-title = Support console
console-language = Language
console-sections = Sections
console-nav-chats = Conversations
console-nav-tickets = Tickets

## Sign-in
console-login-title = Sign in: support console
console-login-email = E-mail
console-login-password = Password
console-login-submit = Sign in
console-login-code-hint = Enter the 6-digit code from your authenticator app.
console-login-code = Code
console-login-recovery-toggle = Use a recovery code instead
console-login-recovery = Recovery code
console-login-verify = Confirm
console-login-restart = Start again
console-login-error-credentials = Wrong e-mail or password.
console-login-error-rate-limited = Too many attempts. Wait a little and try again.
console-login-error-enrolment = Your account has no two-factor authentication yet. Ask an admin for an enrolment link, then sign in here.
console-login-error-otp = The code is wrong, expired or already used.
console-login-error-expired = This sign-in step has expired. Enter your password again.
console-login-error-code-required = Enter the code from the app or a recovery code.
console-login-error-not-staff = The console is for support staff. Customers use the website chat or the Telegram bot.
console-login-error-csrf = The form has expired. Reload the page and try again.
console-login-error-generic = Sign-in failed. Try again.
error-csrf-failed = The page has expired. Reload it and try again.

## Header
console-search-label = Search customers
console-search-placeholder = Contract, phone, name, @telegram
console-search-empty = Nobody found
console-presence-label = My status
console-agent-online = Online
console-agent-away = Away
console-agent-offline = Offline
console-logout = Sign out
console-enable-alerts = Enable alerts

## Help
console-help-title = Keyboard shortcuts
console-help-next-prev = next / previous conversation in the lists
console-help-claim = claim the open conversation
console-help-reply = write a reply
console-help-note = write an internal note
console-help-bot = hand the conversation back to the bot
console-help-send = send
console-help-canned = canned responses
console-help-search = search customers
console-help-tickets = go to tickets
console-help-chats = go to conversations
console-help-help = this help
console-help-escape = close a dialog
console-close-dialog = Close

## The queue
console-queue-title = Waiting
console-queue-empty = Nobody is waiting.
console-mine-title = My conversations
console-mine-empty = You hold no conversations.
console-waiting-for = waiting
console-channel-telegram = Telegram
console-channel-webchat = Web chat
console-new-waiting = A customer is waiting
console-new-waiting-body = A new conversation is in the queue.

## The conversation
console-no-conversation = Pick a conversation
console-transcript = Conversation
console-claim = Claim
console-release = Back to the bot
console-close = Close
console-close-resolution = Resolution
console-make-ticket = Make a ticket
console-transfer = Transfer
console-bot-details = What the bot collected
console-note-mode = Internal note
console-canned = Canned responses
console-canned-filter = Filter
console-canned-empty = No canned responses.
console-payment-link = Payment link
console-payment-amount = Amount
console-reply-label = Reply
console-reply-placeholder = Write a reply… (Ctrl+Enter sends)
console-send = Send
console-cancel = Cancel
console-ticket-subject = Subject
console-ticket-category = Category
console-from-customer = Customer
console-from-bot = Bot
console-from-agent = Agent
console-from-system = Notice
console-note = Internal note
console-attachment = Attachment
console-document = Document
console-payment = Payment link
console-claimed-by = Already taken by { $name }.
console-claimed-by-unknown = Another agent has already taken this conversation.
console-claim-won = The conversation is yours.
console-customer-typing = The customer is typing…
console-sent = Sent.
console-note-saved = Note saved.
console-released = Handed back to the bot.
console-closed = Conversation closed.
console-ticket-made = Ticket created.
console-transferred = Conversation transferred.
console-payment-sent = Payment link sent.
console-amount-invalid = Enter an amount such as 500 or 1500.50.
console-transfer-none = No other agents.
console-state-waiting-agent = waiting
console-state-agent = with an agent
console-state-bot = with the bot
console-state-closed = closed
console-error-generic = That did not work. Try again.
console-error-network = No connection to the server. Retrying…
console-session-ended = Your session has ended. Signing in again…
console-yes = yes
console-no = no
console-conversations-of = Conversations

## The customer card
console-card-title = Customer
console-card-none = No customer is linked to this conversation.
console-card-contract = Contract
console-card-balance = Balance
console-card-days-left = Days left
console-card-tariff = Tariff
console-card-status = Status
console-card-promised = Promised payment
console-card-freeze = Pause
console-card-tickets = Open tickets
console-card-payments = Recent payments
console-card-documents = Documents
console-card-send-document = Send
console-card-channels = Channels

## Tickets
console-tickets-title = Tickets
console-tickets-empty = No tickets match.
console-ticket-none = Pick a ticket
console-ticket-status = Status
console-ticket-priority = Priority
console-ticket-text = Text
console-ticket-internal = Internal note
console-ticket-saved = Saved.
console-any = any
console-ticket-status-open = open
console-ticket-status-in-progress = in progress
console-ticket-status-resolved = resolved
console-ticket-status-closed = closed
console-ticket-priority-low = low
console-ticket-priority-medium = medium
console-ticket-priority-high = high
console-ticket-priority-critical = critical
console-category-no-internet = No internet
console-category-slow-internet = Slow internet
console-category-payment = Payment
console-category-tariff = Tariff
console-category-documents = Documents
console-category-equipment = Equipment
console-category-connection = New connection
console-category-other = Other

## The delivery log on the customer card
console-card-notifications = Notifications
console-channel-fcm = Push
console-channel-email = E-mail
console-channel-sms = SMS
console-delivery-sent = delivered
console-delivery-failed = unreachable
console-delivery-sending = sending
console-delivery-retry = retrying
console-delivery-dead = not delivered
