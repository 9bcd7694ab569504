# The website chat widget (/widget.js) and the demo page (/). /widget.js embeds every
# `widget-` message of both languages; a `{ $name }`-style variable is filled in by the widget.

## The widget

widget-title = Support
widget-open = Open the support chat
widget-close = Close the chat
widget-messages = Conversation
widget-input-label = Your message
widget-input-placeholder = Type a message…
widget-send = Send
widget-attach = Attach a photo or file
widget-sign-in = Sign in
widget-sign-out = Sign out
# $name (string) the customer's name
widget-signed-in-as = Signed in: { $name }
widget-connecting = Connecting…
widget-reconnecting = No connection. Reconnecting…
widget-online = Online
widget-origin-refused = The chat is not available on this website.
widget-you = You
widget-bot = Bot
widget-agent = Operator
widget-system = Notice
widget-typing-bot = The bot is typing…
# $name (string) the operator's name
widget-typing-agent = { $name } is typing…
widget-typing-agent-anonymous = The operator is typing…
widget-pending = Sending…
widget-failed = Not sent
widget-error-generic = Something went wrong. Please try again.

## Signing in inside the chat

widget-consent-title = Consent to personal data processing
widget-consent-text = To sign in, allow us to process your personal data (Federal Law No. 152-FZ).
widget-consent-label = I agree to the processing of my personal data
widget-consent-policy = Personal data policy
widget-consent-needed = Please tick the box to continue.
widget-continue = Continue
widget-cancel = Cancel
widget-login-title = Sign in to your account
widget-login-label = Contract number, email or phone
widget-password-label = Password
widget-code-title = Confirm the sign-in
widget-code-label = Code from your authenticator app or a recovery code
widget-sign-in-submit = Sign in
widget-confirm = Confirm
widget-signed-out = You have signed out.
widget-session-ended = Your sign-in has ended. Please sign in again.

## Messages

# $filename (string)
widget-download = Download { $filename }
widget-download-failed = The file could not be downloaded. Please try again.
widget-download-sign-in = Sign in to download this document.
# $amount (string) the formatted sum with its currency
widget-pay = Pay { $amount }
# $max (string) the largest size in MB
widget-file-too-large = The file is too large: at most { $max } MB.
widget-file-type = Only photos (JPEG, PNG, WebP, GIF), PDF and text files can be attached.
widget-upload-failed = The file could not be sent. Please try again.
widget-uploading = Sending the file…

## The demo page (/)

widget-demo-title = SetPlus: home internet
widget-demo-nav-tariffs = Tariffs
widget-demo-nav-support = Support
widget-demo-nav-agents = For agents
widget-demo-nav-api = API
widget-demo-lang-switch = Русский
widget-demo-hero-title = Fast home internet for your whole family
widget-demo-hero-text = Fibre to your flat, a router included, connection in two days. Questions? Our chat answers day and night.
widget-demo-hero-cta = Ask in the chat
widget-demo-tariffs-title = Tariffs
# $down (number) Mbit/s
widget-demo-tariff-speed = up to { $down } Mbit/s
# $price (string) the formatted price
widget-demo-tariff-price = { $price } a month
widget-demo-tariffs-empty = The tariffs will be published soon.
widget-demo-try-title = Try it
widget-demo-try-text = Open the chat in the corner: ask about tariffs without signing in, or press "Sign in" in the chat and use the demo account.
# $login (string), $password (string)
widget-demo-try-account = Demo account: contract { $login }, password { $password }
widget-demo-try-agents = The agent console
widget-demo-try-api = The API documentation
widget-demo-footer = SetPlus is a fictional provider: this page shows how a provider's website embeds the provider-desk chat.
