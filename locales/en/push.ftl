# Titles of mobile push notifications (notifications/push.py): one per kind of notice; the
# notice's text is the body. Short: a phone shows about 40 characters.

notifications-push-title-billing = Balance and payments
notifications-push-title-tickets = Support
notifications-push-title-outages = Network status
notifications-push-title-security = Account security
notifications-push-title-default = Your account
