# The web chat's error texts (backend/webchat/errors.py): the widget shows them in error frames
# and beside a refused upload.
error-consent-required = Please agree to the processing of your personal data first.
error-visitor-token-invalid = The chat session has ended. Please reload the page.
error-file-not-found = That file was not found in this chat.
error-file-too-large = The file is too large to attach.
error-file-type-not-allowed = Only photos (JPEG, PNG, WebP, GIF), PDF and text files can be attached.
error-file-missing = Please choose a file to attach.
