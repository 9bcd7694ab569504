# The agent console's texts for customers and tickets (backend/webchat/console_service.py,
# dialogs/handover.py).

# The agent went offline while the customer waited for an answer; $minutes (number)
dialogs-handover-requeued = The operator had to step away. Another operator will answer within { $minutes } { $minutes ->
        [one] minute
       *[other] minutes
    } and will see everything so far.
# {balance} in a canned response; $amount in major units
dialogs-agent-money = { NUMBER($amount, minimumFractionDigits: 2) } RUB
# {agent} in a canned response when the agent has no display name
dialogs-agent-generic-name = your operator
# A ticket opened from a conversation: its description, then the recent messages
dialogs-agent-ticket-intro = Opened from the { $channel } conversation #{ $id }. Recent messages:
dialogs-agent-ticket-from-customer = Customer
dialogs-agent-ticket-from-bot = Bot
dialogs-agent-ticket-from-agent = Operator
dialogs-agent-ticket-from-system = Notice
# Told to the customer in the chat
dialogs-agent-ticket-opened = We have opened ticket #{ $id } "{ $subject }". We will write to you when there is news.

error-conversation-anonymous = The customer has not signed in to this chat yet. Ask them to sign in first.
error-canned-response-not-found = That canned response does not exist or has been switched off.
