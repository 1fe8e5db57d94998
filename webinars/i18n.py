"""Russian first, English second: message catalogs and locale-aware date formatting.

Catalog keys are the English texts; Russian is the translation. A missing Russian entry
falls back to English, never to an error.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, get_timezone_name

from .config import SUPPORTED_LOCALES

RU: dict[str, str] = {
    # navigation and auth
    "Webinars": "Вебинары",
    "Log in": "Войти",
    "Log out": "Выйти",
    "E-mail": "Электронная почта",
    "Password": "Пароль",
    "Wrong e-mail or password.": "Неверная электронная почта или пароль.",
    "Too many attempts. Try again in 15 minutes.": "Слишком много попыток. Повторите через 15 минут.",
    "Dashboard": "Мои мероприятия",
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
}

CATALOGS = {"ru": RU, "en": {}}


def gettext(locale: str, text: str) -> str:
    return CATALOGS.get(locale, {}).get(text, text)


def pick_locale(requested: str | None, accept_language: str | None, default: str) -> str:
    if requested in SUPPORTED_LOCALES:
        return requested  # type: ignore[return-value]
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


def zone_label(zone: str, locale: str) -> str:
    try:
        city = get_timezone_name(ZoneInfo(zone), width="long", uncommon=True, locale=locale,
                                 return_zone=False)
    except LookupError:
        city = zone
    return f"{city}, {zone}" if city and city != zone else zone
