# The bot's command menu (setMyCommands), one description per command, 1..256 characters.
# bot/commands.py: key telegram-command-<command>.

telegram-command-start = Start and link your account
telegram-command-balance = Balance and days left
telegram-command-pay = Top up the balance
telegram-command-tariffs = Tariffs and changing yours
telegram-command-tickets = Support tickets
telegram-command-documents = Contracts, invoices and acts
telegram-command-agent = Talk to an operator
telegram-command-language = Change the language
telegram-command-help = What the bot can do
