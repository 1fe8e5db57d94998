"""Message catalogs: gettext .po files under webinars/locale, msgid = the English text.

`gettext(locale, text)` and `ngettext(locale, singular, plural, n)` look a text up in the
locale's catalog, loaded once per process; a missing translation falls back to the English
msgid, never to an error. The wheel carries compiled .mo files (setup.py compiles them at build
time); a checkout or an editable install has only the .po files, so a catalog whose .mo is
missing or older than its .po is compiled in memory when first used. Nothing to run by hand.

Texts that reach `gettext` through a variable (labels in tables, validation reasons) are marked
with `N_()` where they are written, so `pybabel extract` finds them. `extract_python` is the
extractor babel.cfg names for Python: our `gettext`/`ngettext` take the locale first.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from functools import cache
from gettext import NullTranslations
from io import BytesIO
from pathlib import Path
from typing import IO, Any

from babel.messages.extract import extract_python as babel_extract_python
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape

from .config import SUPPORTED_LOCALES

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"


def N_(text: str) -> str:
    """Mark a text for extraction where it is written; it is translated where it is shown."""
    return text


def compile_catalog(po: Path, mo: IO[bytes]) -> None:
    """Write the .mo of one .po (the build step in setup.py uses this too)."""
    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name, domain=DOMAIN)
    write_mo(mo, catalog)


@cache
def translations(locale: str) -> NullTranslations:
    """The locale's catalog, loaded once per process: the .mo when it is current, else the .po
    compiled in memory; a locale without a catalog gets the English texts."""
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as compiled:
            return Translations(compiled, domain=DOMAIN)
    if po.exists():
        buffer = BytesIO()
        compile_catalog(po, buffer)
        buffer.seek(0)
        return Translations(buffer, domain=DOMAIN)
    return NullTranslations()


def load_catalogs() -> None:
    for locale in SUPPORTED_LOCALES:
        translations(locale)


def gettext(locale: str, text: str) -> str:
    if locale not in SUPPORTED_LOCALES:
        return text
    return translations(locale).gettext(text)


def ngettext(locale: str, singular: str, plural: str, n: int) -> str:
    """The form for `n` (Russian has three: 1 день, 2 дня, 5 дней); the caller formats `n` in."""
    if locale not in SUPPORTED_LOCALES:
        return singular if n == 1 else plural
    return translations(locale).ngettext(singular, plural, n)


# Jinja2: the i18n extension's callables, installed once on an environment; the locale is the
# render context's `lang`, so concurrent renders in different languages never share state.
# Translations are text, not HTML: with autoescape on, the translation and every variable are
# escaped (a label that reaches `_()` through a variable cannot inject markup either).


def _finish(context: Context, text: str, variables: dict[str, Any]) -> str:
    if context.eval_ctx.autoescape:
        return Markup(escape(text)) % variables if variables else text
    return text % variables if variables else text


@pass_context
def _jinja_gettext(context: Context, message: str, **variables: Any) -> str:
    return _finish(context, gettext(context.get("lang", ""), message), variables)


@pass_context
def _jinja_ngettext(context: Context, singular: str, plural: str, num: int,
                    **variables: Any) -> str:
    variables.setdefault("num", num)
    return _finish(context, ngettext(context.get("lang", ""), singular, plural, num), variables)


def install(env: Any) -> None:
    """Give a Jinja2 environment `{% trans %}`, `_()`, `gettext()` and `ngettext()`.

    Newstyle: `_("%(n)s left", n=count)` formats inside the call with escaped values; a
    `_()` with no variables returns the text as it is (so `|format` after it still works)."""
    env.add_extension("jinja2.ext.i18n")
    env.newstyle_gettext = True
    env.globals.update(_=_jinja_gettext, gettext=_jinja_gettext, ngettext=_jinja_ngettext)


def extract_python(fileobj: IO[bytes], keywords: Any, comment_tags: Collection[str],
                   options: Any) -> Iterator[tuple[Any, ...]]:
    """babel's Python extractor, for calls that pass the locale first: `gettext(lang, "text")`
    and `ngettext(lang, "one", "many", n)` are reported without their first argument."""
    for lineno, funcname, messages, comments in babel_extract_python(
            fileobj, keywords, comment_tags, options):
        if (funcname in ("gettext", "ngettext") and isinstance(messages, tuple)
                and len(messages) > 1 and messages[0] is None):
            messages = messages[1:] if len(messages) > 2 else messages[1]
        yield lineno, funcname, messages, comments
