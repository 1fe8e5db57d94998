"""Counts in words: the catalog key for the plural form the locale's CLDR rules pick
(Russian: 1 участник, 3 участника, 5 участников, 21 участник)."""

from __future__ import annotations

from functools import cache

from babel import Locale

from .i18n import gettext


@cache
def _locale(code: str) -> Locale:
    return Locale.parse(code)


def plural(locale: str, count: int, *, one: str, other: str, few: str | None = None,
           many: str | None = None) -> str:
    """`one`/`other` are the English keys; `few`/`many` are keys only languages with those
    forms reach (Russian). Each holds `%(count)s`."""
    form = _locale(locale if locale in ("ru", "en") else "ru").plural_form(count)
    key = {"one": one, "few": few or other, "many": many or other}.get(form, many or other)
    return gettext(locale, key) % {"count": count}
