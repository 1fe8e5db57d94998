"""The baseline bench/pages.py measures the event page against: Starlette rendering a small
Jinja2 page, nothing else (no database, no middleware)."""

from __future__ import annotations

from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

PAGE = Environment(loader=DictLoader({"page.html": """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body><h1>{{ title }}</h1><p>{{ when }}</p><p>{{ description }}</p>
<a href="#register">Зарегистрироваться</a></body></html>"""}), autoescape=True)


async def page(request: Request) -> HTMLResponse:
    return HTMLResponse(PAGE.get_template("page.html").render(
        title="Вебинар для всей страны", when="8 декабря 2026 г., 15:00 МСК",
        description="Как вести сообщество профсоюза в соцсетях"))


app = Starlette(routes=[Route("/", page)])
