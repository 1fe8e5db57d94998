"""Demo data: a union's year of modern information work, planned at every level of the tree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .accounts import create_account
from .adoption import copy, join
from .clock import Clock
from .errors import ValidationFailed
from .models import Account, Organization, Webinar
from .organizations import create_organization
from .queue import Queue, commit_and_enqueue
from .registrations import register
from .runtime import Runtime
from .scheduling import create_webinar
from .series import set_series
from .validation import registration_input, webinar_input


@dataclass(frozen=True)
class DemoOrg:
    slug: str
    name: str
    level: str
    timezone: str
    parent: str | None
    organizer_email: str
    organizer_name: str


ORGS = [
    DemoOrg("union", "Общероссийский профсоюз образования", "federal", "Europe/Moscow", None,
            "federal@demo.example", "Анна Смирнова"),
    DemoOrg("sverdlovsk", "Свердловская областная организация профсоюза", "regional",
            "Asia/Yekaterinburg", "union", "ural@demo.example", "Игорь Петров"),
    DemoOrg("primorye", "Приморская краевая организация профсоюза", "regional",
            "Asia/Vladivostok", "union", "primorye@demo.example", "Ольга Ким"),
    DemoOrg("ekb", "Екатеринбургская городская организация профсоюза", "municipal",
            "Asia/Yekaterinburg", "sverdlovsk", "ekb@demo.example", "Сергей Волков"),
    DemoOrg("vladivostok", "Владивостокская городская организация профсоюза", "municipal",
            "Asia/Vladivostok", "primorye", "vvo@demo.example", "Дарья Ли"),
    DemoOrg("ekb-school-12", "Первичная профсоюзная организация школы № 12 г. Екатеринбурга",
            "primary", "Asia/Yekaterinburg", "ekb", "school12@demo.example", "Марина Орлова"),
    DemoOrg("vvo-gymnasium-2", "Первичная профсоюзная организация гимназии № 2 г. Владивостока",
            "primary", "Asia/Vladivostok", "vladivostok", "gym2@demo.example", "Павел Юн"),
]


@dataclass(frozen=True)
class DemoEvent:
    org: str
    weeks_ahead: int
    local_time: time
    kind: str
    minutes: int
    title: str
    description: str
    capacity: int | None = None


PLAN = [
    DemoEvent("union", 2, time(11, 0), "conference", 120,
              "Видеоконференция «Год информационной работы: старт»",
              "Открытие тематического года: задачи профсоюза в информационной работе, "
              "план мероприятий на год и ответы на вопросы председателей региональных "
              "организаций."),
    DemoEvent("union", 4, time(14, 0), "training", 90,
              "Обучение ответственных за информационную работу: модуль 1",
              "Первый модуль обучения ответственных за информационную работу: как "
              "рассказывать о работе профсоюза, чтобы читали. Практические задания после "
              "занятия.", 300),
    DemoEvent("union", 8, time(14, 0), "training", 90,
              "Обучение ответственных за информационную работу: модуль 2",
              "Второй модуль: социальные сети, мессенджеры и сайт первичной организации.", 300),
    DemoEvent("union", 6, time(10, 0), "contest", 60,
              "Интернет-конкурс «Профсоюз в сети»: старт приёма работ",
              "Всероссийский интернет-конкурс профсоюзных сообществ и страниц. На встрече — "
              "условия конкурса, номинации и критерии оценки."),
    DemoEvent("union", 10, time(12, 0), "action", 60,
              "PR-акция «Я в профсоюзе»",
              "Единая информационная акция: члены профсоюза рассказывают, зачем они в "
              "профсоюзе. Как провести акцию в своей организации и подготовить материалы."),
    DemoEvent("union", 12, time(15, 0), "training", 120,
              "Дистанционный курс «Профсоюзный медиаменеджер»",
              "Шесть занятий по вторникам для ответственных за информационную работу: "
              "текст, фото, видео, соцсети, сайт и итоговый проект. Одна регистрация на "
              "весь курс.", 500),
    DemoEvent("sverdlovsk", 3, time(16, 0), "webinar", 60,
              "Вебинар «Сообщество первичной организации ВКонтакте»",
              "Как завести и вести сообщество первичной профсоюзной организации: оформление, "
              "рубрики, план публикаций.", 150),
    DemoEvent("primorye", 5, time(17, 0), "conference", 90,
              "Краевая видеоконференция председателей первичных организаций",
              "Информационная работа в первичных организациях края: опыт, трудности, "
              "обмен практиками."),
    DemoEvent("ekb", 7, time(15, 30), "training", 90,
              "Практикум «Фото и видео для профсоюзного сайта»",
              "Снимаем на телефон: свет, композиция, короткие видео для сайта и соцсетей.", 40),
    DemoEvent("vladivostok", 9, time(16, 0), "contest", 60,
              "Городской конкурс профсоюзных онлайн-стенгазет: подведение итогов",
              "Объявление победителей и разбор лучших работ."),
    DemoEvent("ekb-school-12", 5, time(15, 0), "webinar", 45,
              "Онлайн-собрание первичной организации школы № 12",
              "Итоги полугодия, план информационной работы первичной организации, выборы "
              "ответственного за информационную работу.", 60),
    DemoEvent("vvo-gymnasium-2", 11, time(14, 0), "action", 45,
              "Акция «Профсоюзный урок» в гимназии № 2",
              "Открытый онлайн-урок о профсоюзе для молодых педагогов гимназии.", 80),
    DemoEvent("union", 50, time(11, 0), "conference", 120,
              "Итоговая видеоконференция «Итоги года информационной работы»",
              "Итоги тематического года, награждение победителей конкурсов, планы на "
              "следующий год."),
]


#: The distance course in PLAN: six weekly sessions, one registration.
COURSE = 5
COURSE_SESSIONS = 6

#: Indicative items of the federal sample plan: a quarter or the year, no date yet.
SAMPLE_PLAN = [
    ("Региональные семинары-совещания ответственных за информационную работу", "training",
     "Каждая региональная организация проводит у себя: дату назначает регион."),
    ("Неделя профсоюзных медиа", "action",
     "Единая неделя публикаций первичных организаций о своей работе."),
]
#: (member, e-mail, declared organization, event index in PLAN): registrations spread over
#: the tree, so reports have something to roll up.
MEMBERS = [
    ("Елена Сидорова", "elena@school12.demo.example", "ekb-school-12", 0),
    ("Андрей Попов", "andrey@school12.demo.example", "ekb-school-12", 0),
    ("Татьяна Гришина", "tatiana@school12.demo.example", "ekb-school-12", 1),
    ("Николай Ан", "nikolay@gym2.demo.example", "vvo-gymnasium-2", 0),
    ("Вера Пак", "vera@gym2.demo.example", "vvo-gymnasium-2", 1),
    ("Юлия Мельник", "yulia@ekb.demo.example", "ekb", 6),
    ("Елена Сидорова", "elena@school12.demo.example", "ekb-school-12", COURSE),
    ("Николай Ан", "nikolay@gym2.demo.example", "vvo-gymnasium-2", COURSE),
    ("Ирина Белова", "irina@primorye.demo.example", "primorye", COURSE),
]


def local_start(now: datetime, weeks: int, at: time, zone: str) -> datetime:
    day = (now.astimezone(ZoneInfo(zone)) + timedelta(weeks=weeks)).date()
    while day.weekday() >= 5:  # events fall on working days
        day += timedelta(days=1)
    return datetime.combine(day, at, tzinfo=ZoneInfo(zone))


async def create_tree(session: AsyncSession, clock: Clock, password: str
                      ) -> dict[str, tuple[Organization, Account]]:
    if await session.scalar(select(Organization.id).where(Organization.slug == ORGS[0].slug)):
        raise ValidationFailed({"slug": f"organization {ORGS[0].slug!r} already exists"})
    created: dict[str, tuple[Organization, Account]] = {}
    for spec in ORGS:
        parent = created[spec.parent][0] if spec.parent else None
        org = await create_organization(session, clock, slug=spec.slug, name=spec.name,
                                        timezone=spec.timezone, parent=parent, level=spec.level)
        account = await create_account(session, clock, email=spec.organizer_email,
                                       name=spec.organizer_name, password=password,
                                       organization=org,
                                       role="admin" if spec.level == "federal" else "organizer")
        created[spec.slug] = (org, account)
    return created


async def contest(session: AsyncSession, clock: Clock, union: Organization,
                  organizer: Account, uid_domain: str) -> Webinar:
    """A month-long internet contest: whole days, a deadline for the entries, no meeting."""
    first = (clock.now().astimezone(ZoneInfo(union.timezone)) + timedelta(weeks=6)).date()
    last = first + timedelta(days=30)
    data = webinar_input({
        "title": "Интернет-конкурс «Профсоюз в сети»",
        "description": "Месяц приёма работ: сообщества и страницы первичных организаций.",
        "kind": "contest", "all_day": True, "start_date": first.isoformat(),
        "end_date": last.isoformat(),
        "deadline": datetime.combine(last - timedelta(days=2), time(18, 0)).isoformat(),
        "timezone": union.timezone, "organization_id": union.id,
    }, clock, default_timezone=union.timezone, partial=False)
    return await create_webinar(session, clock, organizer, data, uid_domain=uid_domain)


async def make_course(session: AsyncSession, clock: Clock, organizer: Account,
                      webinar: Webinar) -> None:
    """The distance course: weekly at its first session's weekday and local time."""
    first = webinar.start_at.astimezone(ZoneInfo(webinar.timezone))
    await set_series(session, clock, organizer, webinar.id, {
        "kind": "weekly", "weekday": first.weekday(), "time": f"{first:%H:%M}",
        "count": COURSE_SESSIONS, "from": first.date().isoformat()})


async def adopt_down_the_tree(session: AsyncSession, clock: Clock,
                             tree: dict[str, tuple[Organization, Account]],
                             made: list[Webinar], uid_domain: str) -> None:
    """The Sverdlovsk region joins the opening conference; Primorye runs its own copy of the
    first training module at a local hour; Primorye dates the first indicative item."""
    region, ural = tree["sverdlovsk"]
    await join(session, clock, ural, made[0].id, region.id,
               {"note": "Смотрим вместе в обкоме, ауд. 301", "contact": "Игорь Петров"})
    coast, primorye = tree["primorye"]
    start = made[1].start_at.astimezone(ZoneInfo(coast.timezone)).replace(hour=17, minute=0)
    await copy(session, clock, primorye, made[1].id, coast.id, {},
               {"start": start.replace(tzinfo=None).isoformat(timespec="minutes")},
               uid_domain=uid_domain)
    seminar = next(w for w in made if w.status == "planned")
    first_day = seminar.start_at.astimezone(ZoneInfo(coast.timezone)) + timedelta(days=14)
    await copy(session, clock, primorye, seminar.id, coast.id,
               {"note": "Краевой семинар в онлайн-формате"},
               {"start": first_day.replace(hour=15, minute=0, tzinfo=None)
                .isoformat(timespec="minutes")}, uid_domain=uid_domain)


async def load_demo(runtime: Runtime, queue: Queue, *, password: str) -> str:
    """Create the tree, its organizers and the yearly plan; meeting links are made by jobs."""
    clock = runtime.clock
    made: list[Webinar] = []
    async with runtime.sessionmaker() as session:
        tree = await create_tree(session, clock, password)
        now = clock.now()
        for event in PLAN:
            org, account = tree[event.org]
            start = local_start(now, event.weeks_ahead, event.local_time, org.timezone)
            data = webinar_input({
                "title": event.title, "description": event.description, "kind": event.kind,
                "start": start.replace(tzinfo=None).isoformat(timespec="minutes"),
                "timezone": org.timezone, "duration_minutes": event.minutes,
                "capacity": event.capacity, "organization_id": org.id,
            }, clock, default_timezone=org.timezone, partial=False)
            made.append(await create_webinar(session, clock, account, data,
                                             uid_domain=runtime.config.uid_domain))
        union, federal_organizer = tree["union"]
        await make_course(session, clock, federal_organizer, made[COURSE])
        made.append(await contest(session, clock, union, federal_organizer,
                                  runtime.config.uid_domain))
        quarter = f"{now.year + 1}-Q2" if now.month > 3 else f"{now.year}-Q2"
        for title, kind, description in SAMPLE_PLAN:
            data = webinar_input({
                "title": title, "description": description, "kind": kind, "status": "planned",
                "plan_period": quarter, "timezone": union.timezone, "duration_minutes": 90,
                "organization_id": union.id}, clock, default_timezone=union.timezone,
                partial=False)
            made.append(await create_webinar(session, clock, federal_organizer, data,
                                             uid_domain=runtime.config.uid_domain))
        await adopt_down_the_tree(session, clock, tree, made, runtime.config.uid_domain)
        for name, email, org_slug, index in MEMBERS:
            member = registration_input({
                "name": name, "email": email, "locale": "ru",
                "timezone": tree[org_slug][0].timezone, "organization_id": tree[org_slug][0].id,
            }, default_locale="ru", default_timezone=tree[org_slug][0].timezone)
            await register(session, clock, made[index], member)
        await commit_and_enqueue(session, queue, clock)
    lines = [(f"Demo loaded: {len(ORGS)} organizations, {len(made)} events "
              f"({len(SAMPLE_PLAN)} of them indicative, one a course of {COURSE_SESSIONS} "
              f"sessions), {len(MEMBERS)} registrations."),
             f"Organizers (password: {password}):"]
    lines += [f"  {spec.organizer_email:24} {spec.level:9} {spec.name}" for spec in ORGS]
    lines.append(f"Public calendar: {runtime.config.base_url}/o/{ORGS[-1].slug}")
    return "\n".join(lines)
