"""Russian first, English second: message catalogs and locale-aware date formatting.

Catalog keys are the English texts; Russian is the translation. A missing Russian entry
falls back to English, never to an error.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, get_timezone_name

from .config import SUPPORTED_LOCALES

RU: dict[str, str] = {
    # member's organization on the registration form
    "Your organization": "Ваша организация",
    "Your personal calendar will also show the plans of this organization and those above it.":
        "В вашем личном календаре будут и планы этой организации и вышестоящих.",
    "is not one of the listed organizations": "нет в списке организаций",
    # navigation and auth
    "Webinars": "Вебинары",
    "Log in": "Войти",
    # Courses and recurring series (webinars/series.py)
    "Sessions": "Занятия",
    "Attended (click or platform)": "Пришли (по ссылке или по данным платформы)",
    "moved": "перенесено",
    "Sessions attended": "Посещено занятий",
    "one registration for every session": "одна регистрация на все занятия",
    "must be a local time HH:MM": "должно быть местным временем ЧЧ:ММ",
    "must be a date YYYY-MM-DD": "должна быть датой ГГГГ-ММ-ДД",
    "must be a weekday: 0 (Monday) to 6 (Sunday) or MO..SU": "должен быть днём недели",
    "must be a number from 2 to 60": "должно быть числом от 2 до 60",
    "must list 2 to 60 different times": "нужно указать от 2 до 60 разных времён",
    "every session must be in the future": "все занятия должны быть в будущем",
    "every session must be within five years": "все занятия должны быть в пределах пяти лет",
    "a series changes through its sessions or its rule": "время серии меняется через её занятия или правило",
    "must be a local time YYYY-MM-DDTHH:MM": "должно быть местным временем ГГГГ-ММ-ДД ЧЧ:ММ",
    "this session is cancelled": "это занятие отменено",
    "the last session left cannot be cancelled; cancel the webinar instead": "последнее оставшееся занятие нельзя отменить — отмените мероприятие",
    "a period (an all-day event) cannot be a series": "период (мероприятие на целые дни) не может быть серией",
    "an indicative item gets its sessions once it is given a date": "у ориентировочного пункта плана занятия появятся, когда будет дата",
    "Series": "Серия занятий",
    "Course of several sessions": "Курс из нескольких занятий",
    "Weekly": "Еженедельно",
    "Weekday": "День недели",
    "Local time": "Местное время",
    "Number of sessions": "Число занятий",
    "First week from": "Начиная с",
    "Or a list of local start times, one per line": "Или список начал занятий (местное время), по одному в строке",
    "Save series": "Сохранить серию",
    "Move": "Перенести",
    "Cancel session": "Отменить занятие",
    "New start (local time)": "Новое начало (местное время)",
    "Monday": "понедельник",
    "Tuesday": "вторник",
    "Wednesday": "среда",
    "Thursday": "четверг",
    "Friday": "пятница",
    "Saturday": "суббота",
    "Sunday": "воскресенье",
    "Log out": "Выйти",
    # Periods (issue 9, item 4): all-day contests and actions, deadlines, no meeting link.
    "No meeting link": "без ссылки на встречу",
    "from {0} to {1}": "с {0} по {1}",
    "Submission deadline": "Срок приёма работ",
    "Submission deadline — {0}": "Срок приёма работ — {0}",
    "Deadline: {title}": "Срок приёма работ: {title}",
    "This event has no online meeting.": "У этого мероприятия нет онлайн-встречи.",
    "No online meeting": "Без онлайн-встречи",
    "All-day period (contest, action)": "Период целиком (конкурс, акция)",
    "First day": "Первый день",
    "Last day": "Последний день",
    "Deadline date": "Дата срока приёма работ",
    "Deadline time": "Время срока приёма работ",
    "For a period, the date and time above and the duration are not used.":
        "Для периода дата, время начала и длительность выше не используются.",
    "must not be in the past": "не может быть в прошлом",
    "must not be before the start date": "не может быть раньше первого дня",
    "must be at most {0} days after the start date":
        "должен быть не позже чем через {0} дней после первого дня",
    "must lie inside the period": "должен быть внутри периода",
    "is only for all-day periods (contests, actions)":
        "бывает только у периодов (конкурсов, акций)",
    "must be whole days before an all-day event":
        "для периода напоминания задаются целыми днями до начала",
    "a planned item has no dates yet: leave it off": "у намеченного пункта ещё нет дат",
    "must be a date and time such as 2027-03-25T18:00":
        "должно быть датой и временем, например 2027-03-25T18:00",
    "E-mail": "Электронная почта",
    "Password": "Пароль",
    "Wrong e-mail or password.": "Неверная электронная почта или пароль.",
    "Too many attempts. Try again in 15 minutes.": "Слишком много попыток. Повторите через 15 минут.",
    "Change password": "Сменить пароль",
    "Current password": "Текущий пароль",
    "New password": "Новый пароль",
    "is not your current password": "это не ваш текущий пароль",
    "Your password is changed. Every other browser signed in to your account is signed out.":
        "Пароль изменён. Во всех других браузерах вход в вашу учётную запись завершён.",
    "Dashboard": "Мои мероприятия",
    # the yearly plan: plan views, indicative items, the organization tree
    "Plan": "План",
    "the organization's time zone": "пояс организации",
    "Window": "Период",
    "Previous": "Назад",
    "Next": "Вперёд",
    "Level": "Уровень",
    "All levels": "Все уровни",
    "All kinds": "Все типы",
    "Show": "Показать",
    "The whole year": "Весь год",
    "Nothing in the plan for this period.": "На этот период в плане ничего нет.",
    "from above": "вышестоящая",
    "joined": "присоединились",
    "own": "своё",
    "planned": "намечено",
    "Page": "Страница",
    "Planned for": "Намечено на",
    "In the plan as": "В плане как",
    "upcoming: {0}": "предстоит: {0}",
    "The date is not fixed yet.": "Дата пока не назначена.",
    "Registration opens once the date is fixed.":
        "Регистрация откроется, когда будет назначена дата.",
    "Planned for (no date yet)": "Намечено на (без даты)",
    "For a planned item: a year (2027), a quarter (2027-Q1) or a month (2027-03); leave the date and time empty. It shows in the plan, not in calendars, until it gets a date and the status “scheduled”.":
        "Для пункта плана без даты: год (2027), квартал (2027-Q1) или месяц (2027-03); дату и время оставьте пустыми. Он виден в плане, но не в календарях, пока не получит дату и статус «запланировано».",
    "during {0}": "в течение {0} года",
    "Q{0} {1}": "{2} квартал {1}",
    "Planned {0}": "Запланировано {0}",
    "Planned for {0}": "Запланировано на {0}",
    "a planned item has no date yet: leave it empty, or make it scheduled":
        "у пункта плана ещё нет даты: оставьте поле пустым или выберите статус «запланировано»",
    "is required for a planned item": "обязательно для пункта плана без даты",
    "is only for planned items (with no date yet)":
        "указывается только для пунктов плана без даты",
    "must be a year, a quarter or a month: 2027, 2027-Q1 or 2027-03":
        "укажите год, квартал или месяц: 2027, 2027-Q1 или 2027-03",
    "is already over": "уже прошёл",
    "is required once the item gets its date": "обязательно, когда пункт плана получает дату",
    "a webinar with registrants cannot go back to the plan; cancel it instead":
        "мероприятие с участниками нельзя вернуть в план без даты; отмените его",
    "this item of the plan has no date yet": "у этого пункта плана ещё нет даты",
    "Upcoming webinars": "Ближайшие мероприятия",
    "New webinar": "Новое мероприятие",
    "Edit": "Изменить",
    "Save": "Сохранить",
    "Create": "Создать",
    "Cancel webinar": "Отменить мероприятие",
    "Registrants": "Участники",
    "Deliveries": "Рассылка",
    "Outbox": "Исходящие письма",
    "API tokens": "API-ключи",
    # webhooks
    "Webhooks": "Вебхуки",
    "Other systems receive signed notices (Standard Webhooks) of the events of this organization and every organization below it.":
        "Другие системы получают подписанные уведомления (Standard Webhooks) о событиях этой организации и всех нижестоящих.",
    "The endpoint's signing secret. Copy it now: it is shown only once.":
        "Секрет для проверки подписи. Скопируйте его сейчас: он показывается только один раз.",
    "on": "включён",
    "off": "выключен",
    "every event": "все события",
    "Turned off": "Выключен",
    "Failing since": "Ошибки с",
    "Send test": "Отправить тестовое",
    "Turn off": "Выключить",
    "Turn on": "Включить",
    "Delete": "Удалить",
    "Event": "Событие",
    "Attempts": "Попытки",
    "next try": "следующая попытка",
    "ms": "мс",
    "none yet": "пока нет",
    "Send again": "Отправить снова",
    "Nothing sent yet.": "Пока ничего не отправлено.",
    "No endpoints yet.": "Адресов пока нет.",
    "New endpoint": "Новый адрес",
    "Address (https://)": "Адрес (https://)",
    "Events (none chosen: every event)": "События (если ничего не выбрано — все)",
    "Add endpoint": "Добавить адрес",
    "Webhook endpoint turned off": "Адрес вебхуков выключен",
    "Your webhook endpoint kept failing and has been turned off:":
        "Адрес вебхуков постоянно отвечал ошибкой и был выключен:",
    "Last error": "Последняя ошибка",
    "Its undelivered messages are kept. Fix the receiver, then turn the endpoint on again on this page; they will be sent:":
        "Недоставленные сообщения сохранены. Исправьте приёмник и снова включите адрес на этой странице — они будут отправлены:",
    "must be an https:// address": "должен начинаться с https://",
    "must be an https:// address (http:// only for loopback in development)":
        "должен начинаться с https:// (http:// — только для локального адреса при разработке)",
    "must not point at this server (loopback)": "не может указывать на этот сервер (loopback)",
    "must not point at a private, link-local or reserved address":
        "не может указывать на частный, локальный или зарезервированный адрес",
    "must not contain a user name or password": "не должен содержать имя пользователя или пароль",
    "must not contain spaces or control characters": "не должен содержать пробелы и управляющие символы",
    "is not a valid URL": "это не адрес",
    "Nothing planned yet.": "Пока ничего не запланировано.",
    # webinar fields
    "Title": "Название",
    "Description": "Описание",
    "Kind": "Тип",
    "Organization": "Организация",
    "Date": "Дата",
    "Time": "Время",
    "Time zone": "Часовой пояс",
    "Duration, minutes": "Длительность, минут",
    "Capacity": "Число мест",
    "no limit": "без ограничения",
    "Registration open": "Регистрация открыта",
    "Visibility": "Видимость",
    "public": "открытое",
    "unlisted": "по ссылке",
    "Platform": "Платформа",
    "Meeting link (pasted)": "Ссылка на встречу (вставить)",
    "Reminders, minutes before": "Напоминания, минут до начала",
    "Recording link": "Ссылка на запись",
    "Note after the event": "Сообщение после мероприятия",
    "Status": "Статус",
    "webinar": "вебинар",
    "conference": "видеоконференция",
    "training": "обучение",
    "action": "акция",
    "contest": "конкурс",
    "other": "другое",
    "draft": "черновик",
    "scheduled": "запланировано",
    "cancelled": "отменено",
    "finished": "завершено",
    "jitsi": "Jitsi Meet",
    "static": "своя ссылка",
    "pending": "ожидает",
    "ready": "готова",
    "failed": "ошибка",
    "sending": "отправляется",
    "sent": "отправлено",
    "superseded": "заменено",
    "confirmed": "подтверждена",
    "invitation": "приглашение",
    "update": "изменение",
    "cancellation": "отмена",
    "reminder": "напоминание",
    "followup": "после мероприятия",
    "Meeting link": "Ссылка на встречу",
    "Link pending": "Ссылка готовится",
    # public pages
    "Calendar": "Календарь",
    "Events of": "Мероприятия:",
    "Subscribe to this calendar": "Подписаться на календарь",
    "Register": "Зарегистрироваться",
    "Your name": "Ваше имя",
    "Your time zone": "Ваш часовой пояс",
    "Language": "Язык",
    "Registration is closed.": "Регистрация закрыта.",
    "All seats are taken.": "Все места заняты.",
    "This webinar is cancelled.": "Мероприятие отменено.",
    "This e-mail is already registered.": "Этот адрес уже зарегистрирован.",
    "seats left": "мест осталось",
    "Starts": "Начало",
    "In your time zone": "В вашем часовом поясе",
    "You are registered": "Вы зарегистрированы",
    "Your personal join address": "Ваша личная ссылка для входа",
    "Download .ics": "Скачать .ics",
    "Add to Google Calendar": "Добавить в Google Календарь",
    "Add to Outlook": "Добавить в Outlook",
    "Subscribe to my calendar": "Подписаться на мой календарь",
    "Cancel my registration": "Отменить мою регистрацию",
    "Your registration is cancelled.": "Ваша регистрация отменена.",
    "The link will be available here shortly before the start.":
        "Ссылка появится здесь незадолго до начала.",
    "The meeting link is not ready yet. It will open here at": "Ссылка на встречу ещё готовится. Она откроется здесь",
    "Not found": "Не найдено",
    "Forbidden": "Доступ запрещён",
    "Please correct the errors below.": "Исправьте ошибки ниже.",
    "minutes": "минут",
    "Organizer": "Организатор",
    # public pages: calendars, webinar page, registration, personal page, join (public.py)
    "federal": "федеральный",
    "regional": "региональный",
    "municipal": "муниципальный",
    "primary": "первичный",
    "Choose an organization to see its events and the plans of the organizations above it.":
        "Выберите организацию, чтобы увидеть её мероприятия и планы вышестоящих организаций.",
    "No organizations yet.": "Организаций пока нет.",
    "All organizations": "Все организации",
    "Including the plans of": "Включая планы",
    "Subscribe in my calendar app": "Подписаться в моём календаре",
    "Or add this address to your calendar by hand": "Или добавьте этот адрес в календарь вручную",
    "Upcoming events": "Ближайшие мероприятия",
    "Past events": "Прошедшие мероприятия",
    "Cancelled": "Отменено",
    "Duration": "Длительность",
    "min.": "мин.",
    "Seats left": "Осталось мест",
    "Registration": "Регистрация",
    "Language of letters": "Язык писем",
    "This webinar has already taken place.": "Мероприятие уже прошло.",
    "The webinar has already started; registration is closed.":
        "Мероприятие уже началось, регистрация закрыта.",
    "is required": "обязательное поле",
    "must be a string": "должно быть строкой",
    "contains a NUL character": "содержит недопустимый символ NUL",
    "must be at most 200 characters": "не длиннее 200 символов",
    "must be at most 254 characters": "не длиннее 254 символов",
    "is not an e-mail address": "это не адрес электронной почты",
    "must be one of ru, en": "допустимые значения: ru, en",
    "is not a known IANA time zone (e.g. Europe/Moscow)":
        "неизвестный часовой пояс (пример: Europe/Moscow)",
    "Organizer's time": "Время организатора",
    "Participant": "Участник",
    "It is yours only: it opens the meeting when it starts. Do not share it.":
        "Она только ваша: по ней вы попадёте на встречу, когда она начнётся. Не передавайте её другим.",
    "Add to calendar": "Добавить в календарь",
    "Your personal calendar feed": "Ваш личный календарь",
    "Turn off this feed": "Отключить этот календарь",
    "One calendar with the events you registered for and the plans of your organizations. It updates by itself.":
        "Один календарь с мероприятиями, на которые вы записались, и планами ваших организаций. Он обновляется сам.",
    "Register again": "Зарегистрироваться снова",
    "This registration can no longer be cancelled.": "Эту регистрацию уже нельзя отменить.",
    "The meeting link is not ready yet.": "Ссылка на встречу ещё готовится.",
    "It will open at this address before the start": "Она откроется по этому адресу к началу",
    "Open this address again a little later.": "Откройте этот адрес ещё раз чуть позже.",
    "My registration": "Моя регистрация",
    # calendars and feeds
    "My events": "Мои мероприятия",
    "Calendar feed turned off": "Подписка на календарь отключена",
    "This calendar address no longer works. Calendar apps subscribed to it stop receiving updates; you may remove the subscription there.":
        "Этот адрес календаря больше не работает. Приложения, подписанные на него, перестанут получать обновления; подписку в них можно удалить.",
    # organizer pages: dashboard, webinar form and page, registrants, tokens (organizer.py)
    "When": "Когда",
    "Webinar": "Мероприятие",
    "Registered": "Зарегистрировано",
    "Actions": "Действия",
    "Public page": "Публичная страница",
    "registration closed": "регистрация закрыта",
    "Recent webinars": "Недавние мероприятия",
    "Your account has no organization yet; ask an administrator for a role.":
        "У вашей учётной записи пока нет организации; попросите администратора выдать роль.",
    "The organization's time zone": "Часовой пояс организации",
    "empty: no limit": "пусто — без ограничения",
    "Jitsi Meet: a room is created automatically. Your own link: paste the address of a Zoom, Telemost, VK/Sferum or other meeting below.":
        "Jitsi Meet: комната создаётся автоматически. Своя ссылка: вставьте ниже адрес встречи в Zoom, Телемосте, VK/Сферуме или другой платформе.",
    "Platform of the pasted link": "Платформа вставленной ссылки",
    "comma-separated, e.g. 1440, 15": "через запятую, например 1440, 15",
    "A draft is visible only to organizers and accepts no registrations.":
        "Черновик видят только организаторы, регистрация на него закрыта.",
    "Back": "Назад",
    "Registrants get an updated invitation when the time, duration, title or description changes.":
        "Участники получат обновлённое приглашение, если изменятся время, длительность, название или описание.",
    "The meeting link is being created.": "Ссылка на встречу создаётся.",
    "Last attempt failed, retrying:": "Последняя попытка не удалась, повторяем:",
    "Join link": "Ссылка для участников",
    "Host link": "Ссылка ведущего",
    "Registrants receive a personal join address that leads here.":
        "Участники получают личную ссылку для входа, которая ведёт сюда.",
    "The meeting could not be created. Edit the webinar and choose your own link (paste a Zoom, Telemost, VK/Sferum or other meeting address) instead.":
        "Встречу создать не удалось. Измените мероприятие и выберите свою ссылку (вставьте адрес встречи в Zoom, Телемосте, VK/Сферуме или другой платформе).",
    "Calendar file": "Файл календаря",
    "Counts": "Сводка",
    "Cancelled registrations": "Отменённые регистрации",
    "Join clicks": "Переходы по ссылке",
    "Cancelling cannot be undone. Registration closes and every registrant gets a cancellation that removes the event from their calendar.":
        "Отмену нельзя вернуть. Регистрация закроется, и каждый участник получит письмо об отмене, которое уберёт событие из его календаря.",
    "Yes, cancel the webinar and notify registrants":
        "Да, отменить мероприятие и оповестить участников",
    "No, keep it": "Нет, оставить",
    "Name": "Имя",
    "Registered at": "Дата регистрации",
    "Nobody has registered yet.": "Пока никто не зарегистрировался.",
    "Other systems use a token with the JSON API under /api/v1: send it as Authorization: Bearer <token>.":
        "Другие системы обращаются к JSON API (/api/v1) с ключом в заголовке Authorization: Bearer <ключ>.",
    "Your new token. Copy it now: it is shown only once.":
        "Ваш новый ключ. Скопируйте его сейчас: он показывается только один раз.",
    "Created": "Создан",
    "Last used": "Последнее использование",
    "never": "не использовался",
    "revoked": "отозван",
    "active": "действует",
    "Revoke": "Отозвать",
    "No tokens yet.": "Пока нет ключей.",
    "New token": "Новый ключ",
    "what it is for, e.g. the regional website": "для чего он, например сайт региона",
    "Create token": "Создать ключ",
    "must be at most {0} characters": "не длиннее {0} символов",
    "must be at least {0} characters": "не короче {0} символов",
    "is longer than {0} characters": "длиннее {0} символов",
    "must be at most {0}": "должно быть не больше {0}",
    "must be at least {0}": "должно быть не меньше {0}",
    "must be one of {0}": "должно быть одним из: {0}",
    "must be an integer": "должно быть целым числом",
    "must be true or false": "должно быть да или нет",
    "must be a date such as 2027-03-01": "нужна дата в виде 2027-03-01",
    "must be a time such as 15:00": "нужно время в виде 15:00",
    "must be a date and time such as 2027-03-01T15:00":
        "нужны существующие дата и время в виде 2027-03-01T15:00",
    "must be in the future": "должно быть в будущем",
    "must be within five years": "должно быть не позже чем через пять лет",
    "is required when the link is pasted by hand": "нужна ссылка, если выбрана своя ссылка",
    "must be an https:// link": "должна быть ссылка https://",
    "is not a {0} meeting address": "не адрес встречи {0}",
    "must be whole minutes before the start": "укажите целое число минут до начала",
    "each must be between {0} and {1} minutes": "каждое — от {0} до {1} минут",
    "at most {0} reminders": "не больше {0} напоминаний",
    "this organization is outside your part of the tree": "эта организация вне вашей части дерева",
    "a cancelled webinar cannot be changed": "отменённое мероприятие нельзя изменить",
    "no such webinar": "такого мероприятия нет",
    "the form has expired; reload the page and try again":
        "форма устарела; обновите страницу и попробуйте ещё раз",
    # e-mails, outbox and deliveries (mail.py, templates/email, web/outbox.py)
    "Invitation: {title}": "Приглашение: {title}",
    "Changed: {title}": "Изменение: {title}",
    "Cancelled: {title}": "Отменено: {title}",
    "Registration cancelled: {title}": "Регистрация отменена: {title}",
    "Reminder: {title}": "Напоминание: {title}",
    "After the event: {title}": "После мероприятия: {title}",
    "Hello, %(name)s!": "Здравствуйте, %(name)s!",
    "You are registered for «%(title)s».": "Вы зарегистрированы на мероприятие «%(title)s».",
    "«%(title)s» has changed. Here are the current details; your calendar updates the event when you open this message.":
        "В мероприятии «%(title)s» произошли изменения. Ниже — актуальные сведения; календарь обновит событие, когда вы откроете это письмо.",
    "«%(title)s» is cancelled. It is removed from your calendar when you open this message.":
        "Мероприятие «%(title)s» отменено. Оно исчезнет из вашего календаря, когда вы откроете это письмо.",
    "Your registration for «%(title)s» is cancelled. The event is removed from your calendar when you open this message.":
        "Ваша регистрация на мероприятие «%(title)s» отменена. Оно исчезнет из вашего календаря, когда вы откроете это письмо.",
    "«%(title)s» starts in %(offset)s.": "«%(title)s» начнётся через %(offset)s.",
    "Thank you for your interest in «%(title)s».": "Спасибо за интерес к мероприятию «%(title)s».",
    "min": "мин",
    "Join": "Подключиться",
    "Your page": "Ваша страница",
    "Was planned for": "Было запланировано на",
    "Event page": "Страница мероприятия",
    "Recording": "Запись",
    "Add to your calendar: open the attached invite.ics or use one of these links.":
        "Добавить в календарь: откройте приложенный файл invite.ics или воспользуйтесь ссылками.",
    "Add to your calendar: open the attached invite.ics, it holds every session.":
        "Добавить в календарь: откройте приложенный файл invite.ics, в нём все занятия.",
    "The .ics file holds every session of the course; Google Calendar, Outlook and Apple "
    "Calendar import it as one repeating event.":
        "В файле .ics все занятия курса; Google Календарь, Outlook и Apple Календарь "
        "импортируют его как одно повторяющееся событие.",
    "You receive this message because you registered for this event.":
        "Вы получили это письмо, потому что зарегистрировались на мероприятие.",
    "Your page (details, calendar file, cancel registration)":
        "Ваша страница (подробности, файл календаря, отмена регистрации)",
    "Recipient": "Получатель",
    "Subject": "Тема",
    "Registrant": "Участник",
    "Reason": "Причина",
    # Course reports (webinars/series_report.py, webinars/web/series_reports.py)
    "Courses": "Курсы",
    "Course report": "Отчёт по курсу",
    "course, sessions: {0}": "курс, занятий: {0}",
    "A course counts once, with one registration per member; its report shows each session "
    "and how many sessions each member attended.":
        "Курс считается один раз, одна регистрация на участника; в отчёте по курсу — каждое "
        "занятие и сколько занятий посетил каждый участник.",
    "A member attended a session when they followed their join address in its window (from "
    "30 minutes before the start to the end) or the platform reported them in the meeting "
    "then; a cancelled session counts for no one.":
        "Участник был на занятии, если перешёл по своей ссылке входа в его время (от 30 минут "
        "до начала до конца) или платформа сообщила, что он был на встрече; отменённое "
        "занятие не считается ни для кого.",
    "By session": "По занятиям",
    "Members": "Участники",
    "Members by sessions attended": "Участники по числу посещённых занятий",
    "Members with this many sessions": "Посетили столько занятий",
    "Registered and attended, by session": "Зарегистрировались и пришли, по занятиям",
    "Sessions attended by each member": "Сколько занятий посетил каждый участник",
    "Sessions held": "Занятий (без отменённых)",
    "Times in the zone of": "Время указано по поясу",
    "Who attended which sessions": "Кто на каких занятиях был",
    # Participation reports (webinars/web/reports.py, templates/pages/reports.html)
    "Participation report": "Отчёт об участии",
    "Participation reports": "Отчёты об участии",
    "Attended (platform report)": "Присутствовали (по данным платформы)",
    "Clicked the join address": "Перешли по ссылке входа",
    "Attended counts only platforms that report who was in the meeting.":
        "«Присутствовали» считается только там, где платформа сообщает, кто был на встрече.",
    "By level": "По уровням",
    "By month": "По месяцам",
    "By organization (with everything below it)":
        "По организациям (вместе со всеми нижестоящими)",
    "By webinar": "По мероприятиям",
    "Counted": "Кого считаем",
    "Download CSV": "Скачать CSV",
    "Earlier": "Раньше",
    "Later": "Позже",
    "Events of the organizations above count only the members who declared an organization "
    "of this part of the tree.":
        "На мероприятиях вышестоящих организаций учитываются только участники, указавшие "
        "организацию из этой части дерева.",
    "Month": "Месяц",
    "No events in this period.": "В этот период мероприятий нет.",
    "Organizations": "Организаций",
    "Period": "Период",
    "Periods: a month (2026-12), a quarter (2026-Q4) or a year (2026), in the zone of":
        "Период: месяц (2026-12), квартал (2026-Q4) или год (2026), по времени",
    "Registered and attended, by month": "Зарегистрировались и присутствовали, по месяцам",
    "Registered and attended, by organization":
        "Зарегистрировались и присутствовали, по организациям",
    "The organization is the one the member declared when registering; nobody checked it.":
        "Организация — со слов участника: её указывают при регистрации, и никто её не "
        "проверяет.",
    "The same numbers are in the table below.": "Те же числа — в таблице ниже.",
    "all registrants": "все зарегистрированные",
    "only members of {0}": "только участники из «{0}»",
    "due": "срок",
    "attempts": "попыток",
    "Resend invitation": "Отправить приглашение ещё раз",
    "The invitation will be sent again shortly.": "Приглашение будет отправлено ещё раз в ближайшее время.",
    "Some messages could not be delivered; the reason is shown next to each.":
        "Некоторые письма не удалось доставить; причина указана рядом с каждым.",
    "Previous page": "Предыдущая страница",
    # Adopting down the tree and coverage (webinars/adoption.py, web/adoption.py, notices)
    "Take into your plan": "Взять в свой план",
    "Plan items from the levels above": "Пункты плана вышестоящих уровней",
    "Already in your plans": "Уже в ваших планах",
    "How": "Как",
    "Note": "Примечание",
    "Contact": "Контакт",
    "copied": "провели своё",
    "your event": "ваше мероприятие",
    "not yet": "пока нет",
    "Withdraw": "Отказаться",
    "Join it": "Присоединиться",
    "Your copy stays an event of yours; cancel it to call it off.":
        "Ваша копия остаётся вашим мероприятием; чтобы его не проводить, отмените его.",
    "The event shows in your plan as yours too; your members register for the one shared "
    "event.": "Мероприятие появится и в вашем плане; ваши участники регистрируются на общее "
              "мероприятие.",
    "This item has no date yet: copy it with your own date.":
        "У этого пункта ещё нет даты: проведите своё мероприятие со своей датой.",
    "Local note": "Местное примечание",
    "Local contact": "Местный контакт",
    "Copy as your own event": "Провести как своё мероприятие",
    "Your own event, linked to the original: its own registrations and meeting. Leave a field "
    "empty to keep the original's.": "Ваше мероприятие, связанное с исходным: свои регистрации "
                                     "и своя встреча. Пустое поле оставляет значение исходного.",
    "As the original": "Как в исходном",
    "Coverage": "Охват",
    "Took it up": "Взяли в план",
    "Joined": "Присоединились",
    "Copied": "Провели своё",
    "Reminded": "Напоминание",
    "{0} of {1}": "{0} из {1}",
    "No organizations below this one.": "Ниже этой организации никого нет.",
    "Remind those that have not": "Напомнить тем, кто ещё не взял",
    "One e-mail to each of their organizers; an organization is reminded at most once a day.":
        "По письму каждому их организатору; одной организации — не чаще раза в сутки.",
    "Reminders are being sent to {0} organizations.":
        "Напоминания отправляются организациям: {0}.",
    "A plan item to take up: {0}": "Пункт плана ждёт вас: {0}",
    "{0} reminds you of «{1}» ({2}) in its plan.":
        "{0} напоминает о пункте своего плана «{1}» ({2}).",
    "{0} has not joined it or run its own copy yet. Join it (your members register for the "
    "shared event) or copy it with your own date:":
        "{0} пока не присоединилась к нему и не провела своё. Присоединитесь (ваши участники "
        "регистрируются на общее мероприятие) или проведите своё со своей датой:",
    "The original of your event changed: {0}": "Исходное мероприятие изменилось: {0}",
    "«{0}», the event your «{1}» was copied from, has changed:":
        "«{0}», по которому проводится ваше «{1}», изменилось:",
    "Your copy was not changed. To follow the original, edit your event:":
        "Ваше мероприятие не изменено. Чтобы последовать за исходным, измените его:",
    "the event is not of a level above this organization":
        "мероприятие не относится к вышестоящему уровню этой организации",
    "no such event to adopt": "нет такого мероприятия, которое можно взять в план",
    "you manage no organization below this event's":
        "вы не управляете ни одной организацией ниже организатора этого мероприятия",
    "is required: an indicative item is copied with your own date":
        "обязательно: примерный пункт плана проводится со своей датой",
    "is not a field a copy may change": "это поле в копии изменить нельзя",
    "this organization has already joined the event; withdraw first to change it":
        "эта организация уже присоединилась к мероприятию; сначала откажитесь от него",
    "this organization has already copied the event; withdraw first to change it":
        "эта организация уже проводит своё мероприятие по этому; сначала откажитесь от него",
    "only a public item that is planned or scheduled can be reminded of":
        "напомнить можно только об открытом запланированном мероприятии",
    "Next page": "Следующая страница",
    "No messages yet.": "Писем пока нет.",
    "Attachments": "Вложения",
    "Download .eml": "Скачать .eml",
    "Open it in a mail program to see the message as a member gets it and add the event to a calendar.":
        "Откройте файл в почтовой программе, чтобы увидеть письмо так, как его получает участник, и добавить событие в календарь.",
    "No SMTP server is configured, so messages are kept here instead of being sent.":
        "SMTP-сервер не настроен, поэтому письма хранятся здесь вместо отправки.",
    "Mail is sent through the SMTP server; this list holds only messages kept before it was configured.":
        "Письма отправляются через SMTP-сервер; здесь только письма, сохранённые до его настройки.",
    "no such message": "такого письма нет",
    "no such registration": "такой регистрации нет",
    "invitations are sent only for a scheduled webinar": "приглашения отправляются только для запланированного мероприятия",
    "the registration is cancelled": "регистрация отменена",
    # hardening: proven addresses, feeds, reminders, limits (issue 6)
    "Too many registrations from here or for this address. Try again later.":
        "Слишком много регистраций с этого устройства или на этот адрес. Попробуйте позже.",
    "too many registrations; try again later": "слишком много регистраций; попробуйте позже",
    "Calendar address made": "Адрес календаря создан",
    "Make a new calendar address": "Создать новый адрес календаря",
    "Your new calendar address. Copy it now: it is shown only once.":
        "Ваш новый адрес календаря. Скопируйте его сейчас: он показывается только один раз.",
    "One calendar with the plans of your organizations. It updates by itself. Events you registered for reach your calendar by e-mail invitation, so they are left out of it and never show twice.":
        "Один календарь с планами ваших организаций. Он обновляется сам. Мероприятия, на которые вы записались, приходят в календарь приглашением по почте, поэтому в нём их нет и они не появятся дважды.",
    "Registered for other events with this address? Open «Your page» from one of your e-mails about this event: that shows the address is yours, and your other registrations are then left out of the feed too.":
        "Записывались на другие мероприятия с этим адресом? Откройте «Вашу страницу» из любого письма об этом мероприятии: так вы подтвердите, что адрес ваш, и другие ваши регистрации тоже уйдут из этого календаря.",
    "Reminders": "Напоминания",
    "Reminders and follow-ups are turned off for this registration.":
        "Напоминания и письма после мероприятия для этой регистрации отключены.",
    "Turn reminders on": "Включить напоминания",
    "Turn off reminders": "Отключить напоминания",
    "Reminders and follow-ups are turned off for this registration. Invitations, changes and cancellations still arrive, so your calendar stays right.":
        "Напоминания и письма после мероприятия для этой регистрации отключены. Приглашения, изменения и отмены по-прежнему будут приходить, чтобы календарь оставался верным.",
    "Turn off reminders and follow-ups for this registration? Invitations, changes and cancellations still arrive, so your calendar stays right.":
        "Отключить напоминания и письма после мероприятия для этой регистрации? Приглашения, изменения и отмены по-прежнему будут приходить, чтобы календарь оставался верным.",
    "Hello!": "Здравствуйте!",
    "You receive this message because this address was registered for «%(title)s» (%(organization)s) at %(site)s. If it was not you, cancel the registration on your page; nothing more will be sent.":
        "Вы получили это письмо, потому что этот адрес зарегистрирован на мероприятие «%(title)s» (%(organization)s) на сайте %(site)s. Если это были не вы, отмените регистрацию на своей странице — больше писем не будет.",
    "a webinar with registrants cannot go back to draft; cancel it instead":
        "у мероприятия есть участники, его нельзя вернуть в черновик; отмените его",
    "does not exist in this time zone (the clocks go forward then); choose another time":
        "такого времени нет в этом часовом поясе (часы переводят вперёд); выберите другое время",
    "occurs twice in this time zone (the clocks go back then); choose another time, or give the time with its UTC offset":
        "это время бывает дважды в этом часовом поясе (часы переводят назад); выберите другое время или укажите его со смещением от UTC",
    "the form is not valid UTF-8 text": "форма содержит текст не в кодировке UTF-8",
    # activity log (web/activity.py)
    "Activity log": "Журнал изменений",
    "Changes in this organization and every organization below it.":
        "Изменения в этой организации и во всех нижестоящих.",
    "Times are shown in": "Время указано в поясе",
    "Who": "Кто",
    "What changed": "Что изменилось",
    "What it set off": "К чему это привело",
    "Nothing has happened yet.": "Пока ничего не происходило.",
    "Newest": "К последним",
    "Older": "Раньше",
    "system": "система",
    "Member": "Участник",
    "yes": "да",
    "no": "нет",
    "Draft created": "Создан черновик",
    "Webinar scheduled": "Мероприятие запланировано",
    "Webinar changed": "Мероприятие изменено",
    "Webinar cancelled": "Мероприятие отменено",
    "Member registered": "Участник зарегистрировался",
    "Registration cancelled": "Регистрация отменена",
    "Meeting link ready": "Ссылка на встречу готова",
    "Meeting could not be created": "Встречу создать не удалось",
    "A message could not be delivered": "Письмо не доставлено",
    "The meeting link changed": "Ссылка на встречу изменилась",
    "{0} members told: {1} messages, {2} sent, {3} failed":
        "Оповещено участников: {0}; писем: {1}, отправлено: {2}, с ошибкой: {3}",
    "{0} member told: {1} messages, {2} sent, {3} failed":
        "Оповещено участников: {0}; писем: {1}, отправлено: {2}, с ошибкой: {3}",
    "{0} webhook message: {1} sent, {2} failed":
        "Сообщений вебхуков: {0}; отправлено: {1}, с ошибкой: {2}",
    "{0} webhook messages: {1} sent, {2} failed":
        "Сообщений вебхуков: {0}; отправлено: {1}, с ошибкой: {2}",
    "The platform meeting job was started": "Запущено задание для встречи на платформе",
    "Processing failed ({0} attempts): {1}": "Обработка не удалась (попыток: {0}): {1}",
    "Being processed": "Обрабатывается",
    "before must be an event id": "before должен быть номером события",
    "no such organization": "такой организации нет",
    # conferencing platforms (integrations/registry.py, pages/platforms.html)
    "Your own link": "своя ссылка",
    "Yandex Telemost": "Яндекс Телемост",
    "MTS Link": "МТС Линк",
    "VK Calls / Sferum": "VK Звонки / Сферум",
    "Jitsi with tokens (own server)": "Jitsi с токенами (свой сервер)",
    "Conferencing platforms": "Платформы видеосвязи",
    "An account connected here serves this organization and every organization below it, unless one below connects its own. Secrets are stored encrypted and never shown again: leave a secret field empty to keep it.":
        "Подключённая здесь учётная запись служит этой организации и всем нижестоящим, если нижестоящая не подключит свою. Секреты хранятся зашифрованными и больше не показываются: оставьте поле секрета пустым, чтобы сохранить прежний.",
    "CREDENTIALS_KEY is not set: platform credentials cannot be stored. Ask the administrator to set it.":
        "Не задан CREDENTIALS_KEY: учётные данные платформ нельзя сохранить. Попросите администратора задать его.",
    "connected": "подключено",
    "not working": "не работает",
    "not tested": "не проверено",
    "Checked": "Проверено",
    "inherited": "унаследовано",
    "Uses the account connected by": "Использует учётную запись, подключённую организацией",
    "Not connected.": "Не подключено.",
    "Callback address for the platform's webhooks": "Адрес для вебхуков платформы",
    "optional": "необязательно",
    "stored": "сохранено",
    "Test connection": "Проверить подключение",
    "Disconnect": "Отключить",
    "API address": "Адрес API",
    "Shared secret": "Общий секрет",
    "Checksum algorithm": "Алгоритм контрольной суммы",
    "Account ID": "ID учётной записи",
    "Client ID": "ID клиента",
    "Client secret": "Секрет клиента",
    "Host (user e-mail or id)": "Ведущий (e-mail или id пользователя)",
    "Make on the platform": "Создавать на платформе",
    "Zoom Webinars need the Webinar add-on.": "Для вебинаров Zoom нужно дополнение Webinar.",
    "Webhook secret token": "Секретный токен вебхуков",
    "Webhook secret": "Секрет вебхуков",
    "The secret the platform signs its webhooks with; empty: no webhooks.":
        "Секрет, которым платформа подписывает вебхуки; пусто — без вебхуков.",
    "Service account key (JSON)": "Ключ сервисного аккаунта (JSON)",
    "With domain-wide delegation; or fill in the three OAuth fields.":
        "С делегированием на уровне домена; или заполните три поля OAuth.",
    "User to act as (e-mail)": "Пользователь, от имени которого действовать (e-mail)",
    "OAuth client ID": "ID клиента OAuth",
    "OAuth client secret": "Секрет клиента OAuth",
    "Refresh token": "Токен обновления",
    "Tenant ID": "ID клиента (tenant)",
    "Application (client) ID": "ID приложения (клиента)",
    "Organizer (user id or e-mail)": "Организатор (id пользователя или e-mail)",
    "Host e-mail": "E-mail ведущего",
    "OAuth token": "OAuth-токен",
    "Waiting room": "Зал ожидания",
    "Co-hosts (e-mails, comma-separated)": "Соведущие (e-mail через запятую)",
    "API key (x-auth-token)": "Ключ API (x-auth-token)",
    "Server address": "Адрес сервера",
    "Application id (Prosody app_id)": "Идентификатор приложения (app_id Prosody)",
    "Application secret (Prosody app_secret)": "Секрет приложения (app_secret Prosody)",
    "Audience": "Аудитория (aud)",
    "Signature": "Подпись",
    "AppID (vpaas-magic-cookie-…)": "AppID (vpaas-magic-cookie-…)",
    "API key id": "ID ключа API",
    "Private key (PEM)": "Закрытый ключ (PEM)",
    "Start as host": "Начать как ведущий",
    "The platform gave no host link:": "Платформа не выдала ссылку ведущего:",
    "The meeting could not be created. Fix the platform's connection (organization's platforms page) and save the webinar again, or edit the webinar and choose your own link (paste a Zoom, Telemost, VK/Sferum or other meeting address) instead.":
        "Встречу создать не удалось. Исправьте подключение платформы (страница платформ организации) и сохраните мероприятие ещё раз или измените мероприятие и выберите свою ссылку (вставьте адрес встречи в Zoom, Телемосте, VK/Сферуме или другой платформе).",
    "Members seen in the meeting": "Участники, замеченные на встрече",
    "Other participants": "Другие участники",
    "Attendance comes from the platform's webhooks, matched to registrants by the personal links they used.":
        "Посещаемость приходит из вебхуков платформы; участники узнаются по личным ссылкам, по которым вошли.",
    "Attendance comes from the platform's attendance report, read after the meeting; registrants are counted by their join clicks.":
        "Посещаемость берётся из отчёта платформы после встречи; зарегистрированные учитываются по переходам по ссылке входа.",
    "This platform reports no attendance: registrants are counted by their join clicks.":
        "Эта платформа не сообщает о посещаемости: зарегистрированные учитываются по переходам по ссылке входа.",
    "The other platforms create the meeting in your organization's account, connected on its platforms page.":
        "Остальные платформы создают встречу в учётной записи вашей организации, подключённой на странице платформ.",
    "Thank you for taking part in «%(title)s».": "Спасибо, что приняли участие в мероприятии «%(title)s».",
    "We missed you at «%(title)s». Here is what you can catch up on.":
        "Жаль, что вас не было на мероприятии «%(title)s». Вот что можно наверстать.",
    # organizer notices (webinars/notices.py)
    "The meeting could not be created: {0}": "Встречу не удалось создать: {0}",
    "The conferencing platform did not create the meeting of «{0}» ({1}).":
        "Платформа видеосвязи не создала встречу мероприятия «{0}» ({1}).",
    "Members cannot join until it is fixed. Reconnect the platform, or edit the webinar and paste a link of your own:":
        "Участники не смогут подключиться, пока это не исправлено. Подключите платформу заново или измените мероприятие и вставьте свою ссылку:",
    "Reconnect {0}": "Подключите {0} заново",
    "The {0} account connected for your organization stopped working.":
        "Учётная запись {0}, подключённая для вашей организации, перестала работать.",
    "The next webinar that needs it: «{0}», {1}. Reconnect before then:":
        "Ближайшее мероприятие, которому она нужна: «{0}», {1}. Подключите её заново до него:",
    # registration modes, the waitlist, registering again (webinars/registrations.py)
    "waitlisted": "в листе ожидания",
    "declined": "отклонена",
    "open": "открыта",
    "approval": "с подтверждением",
    "closed": "закрыта",
    "Confirm": "Подтвердить",
    "Decline": "Отклонить",
    "Confirm all": "Подтвердить все",
    "Decline all": "Отклонить все",
    "Waiting for your decision": "Ждут вашего решения",
    "Registration with approval": "Регистрация с подтверждением",
    "Check your mail": "Проверьте почту",
    "We have sent the link to this address. It opens your personal page: your registration, your join address and the calendar file.":
        "Мы отправили ссылку на этот адрес. Она открывает вашу личную страницу: регистрацию, адрес для входа и файл для календаря.",
    "No letter? Look in the spam folder; the letter may take a few minutes.":
        "Письма нет? Загляните в папку «Спам»; письмо может идти несколько минут.",
    "Back to the event": "Вернуться к мероприятию",
    "All seats are taken. Register to join the waitlist: when a seat frees up, the first in line gets it and the invitation at once.":
        "Все места заняты. Зарегистрируйтесь, чтобы встать в лист ожидания: когда место освободится, его получит первый в очереди, и приглашение придёт сразу.",
    "The organizer confirms each registration; you will get an e-mail either way.":
        "Организатор подтверждает каждую регистрацию; письмо придёт в любом случае.",
    "Your request waits for the organizer": "Ваша заявка ждёт решения организатора",
    "The organizer confirms registrations one by one; you will get an e-mail either way.":
        "Организатор подтверждает регистрации по одной; письмо придёт в любом случае.",
    "You are on the waitlist": "Вы в листе ожидания",
    "Your place in line: %(place)s. When a seat frees up, it goes to the first in line, and the invitation comes by e-mail at once.":
        "Ваше место в очереди: %(place)s. Когда место освободится, его получит первый в очереди, и приглашение сразу придёт по почте.",
    "Your registration was declined.": "Ваша регистрация отклонена.",
    "Leave the waitlist": "Выйти из листа ожидания",
    "Withdraw my request": "Отозвать заявку",
    "Request received: {title}": "Заявка получена: {title}",
    "Waitlist: {title}": "Лист ожидания: {title}",
    "A seat for you: {title}": "Для вас есть место: {title}",
    "Registration declined: {title}": "Регистрация отклонена: {title}",
    "Your link: {title}": "Ваша ссылка: {title}",
    "Your request to register for «%(title)s» was received. The organizer confirms registrations one by one; you will get an e-mail either way.":
        "Ваша заявка на участие в «%(title)s» получена. Организатор подтверждает регистрации по одной; письмо придёт в любом случае.",
    "«%(title)s» is full: you are on the waitlist. When a seat frees up, it goes to the first in line, and you will get the invitation for your calendar at once. You can leave the waitlist on your page.":
        "На «%(title)s» все места заняты: вы в листе ожидания. Когда место освободится, его получит первый в очереди, и приглашение для календаря придёт сразу. Выйти из листа ожидания можно на вашей странице.",
    "Your registration for «%(title)s» was declined by the organizer.":
        "Организатор отклонил вашу регистрацию на «%(title)s».",
    "Someone asked to register this address for «%(title)s», which is registered already. Here is your personal page again; nothing else has changed.":
        "Кто-то снова зарегистрировал этот адрес на «%(title)s», а он уже зарегистрирован. Вот ещё раз ваша личная страница; больше ничего не изменилось.",
    "A seat freed up for «%(title)s»: you were first on the waitlist, and you are registered now.":
        "На «%(title)s» освободилось место: вы были первым в листе ожидания и теперь зарегистрированы.",
    "It starts soon: %(when)s.": "Начало уже скоро: %(when)s.",
    "Saved; nothing members must see changed, so nobody is told.":
        "Сохранено; для участников ничего существенного не изменилось, письма не отправляются.",
    "Saved; %(count)s member will be told.": "Сохранено; письмо об изменениях получит %(count)s участник.",
    "Saved; %(count)s members will be told (few).": "Сохранено; письмо об изменениях получат %(count)s участника.",
    "Saved; %(count)s members will be told.": "Сохранено; письмо об изменениях получат %(count)s участников.",
    "contradicts registration_mode": "противоречит режиму регистрации",
    "Member asked to register": "Участник подал заявку",
    "Member put on the waitlist": "Участник в листе ожидания",
    "Registration declined": "Регистрация отклонена",
}

CATALOGS = {"ru": RU, "en": {}}


def gettext(locale: str, text: str) -> str:
    return CATALOGS.get(locale, {}).get(text, text)


def pick_locale(requested: str | None, accept_language: str | None, default: str) -> str:
    if requested in SUPPORTED_LOCALES:
        return requested
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in SUPPORTED_LOCALES:
            return code
    return default


def format_when(instant: datetime, zone: str, locale: str) -> str:
    """"четверг, 5 марта 2026 г., 15:00 (Москва)" — the time with its zone named."""
    tz = ZoneInfo(zone)
    text = format_datetime(instant, "EEEE, d MMMM y, HH:mm", tzinfo=tz, locale=locale)
    return f"{text} ({zone_label(zone, locale)})"


def format_day(day: date, locale: str) -> str:
    """"5 марта 2027"."""
    text: str = format_date(day, "d MMMM y", locale=locale)
    return text


def format_days(first: date, last: date, locale: str) -> str:
    """A period of days as people say it: «с 1 по 31 марта 2027», «с 25 марта по 5 апреля
    2027», «с 28 декабря 2026 по 10 января 2027»; one day is just that day."""
    if first == last:
        return format_day(first, locale)
    if first.year != last.year:
        start = format_day(first, locale)
    elif first.month != last.month:
        start = format_date(first, "d MMMM", locale=locale)
    else:
        start = str(first.day)
    return gettext(locale, "from {0} to {1}").format(start, format_day(last, locale))


def zone_label(zone: str, locale: str) -> str:
    try:
        city = get_timezone_name(ZoneInfo(zone), width="long", uncommon=True, locale=locale,
                                 return_zone=False)
    except LookupError:
        city = zone
    return f"{city}, {zone}" if city and city != zone else zone
