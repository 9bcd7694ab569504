# E-mail notices (notifications/email.py) and the unsubscribe pages behind the link every
# marketing e-mail carries (backend/customers/unsubscribe.py).

## the e-mail itself

# $provider the provider's name; the subject of a notice whose template has no `.subject`.
notifications-email-subject-default = A notice from { $provider }
# $provider the provider's name; $url the one-click unsubscribe link. Ends every marketing e-mail.
notifications-email-unsubscribe-footer =
    You received this e-mail because you are subscribed to news and offers from { $provider }.
    Unsubscribe: { $url }

## the unsubscribe pages

notifications-unsubscribe-title = Unsubscribe
notifications-unsubscribe-confirm = Stop sending you news and offers? Notices about your account, outages and tickets will keep coming.
notifications-unsubscribe-button = Unsubscribe
notifications-unsubscribe-done = Done: no more news and offers. You can turn them back on in the notification settings of your account.
notifications-unsubscribe-invalid = This unsubscribe link is damaged or incomplete. Open it from the e-mail again, or turn news off in the notification settings of your account.
