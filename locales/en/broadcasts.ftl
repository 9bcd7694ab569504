# A broadcast's message (backend/broadcasts, notifications/worker.py): the text is the admin's;
# this carries it, with the e-mail's subject.
broadcast-message = { $text }
    .subject = A message from your provider
