# Тексты ошибок веб-чата (backend/webchat/errors.py): виджет показывает их в кадрах error и
# рядом с отклонённым вложением.
error-consent-required = Сначала, пожалуйста, дайте согласие на обработку персональных данных.
error-visitor-token-invalid = Сеанс чата завершён. Пожалуйста, обновите страницу.
error-file-not-found = Такой файл в этом чате не найден.
error-file-too-large = Файл слишком большой для отправки.
error-file-type-not-allowed = Можно прикрепить только фото (JPEG, PNG, WebP, GIF), PDF и текстовые файлы.
error-file-missing = Пожалуйста, выберите файл.
