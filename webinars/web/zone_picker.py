"""The zone picker's <option>s, rendered once per language and day rather than per page.

Five hundred options were nine tenths of the event page's template time; the choice of one is
a string replacement on the cached text.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache

from markupsafe import Markup, escape

from ..i18n import zone_label
from ..timezones import zone_choices


@lru_cache(maxsize=8)
def _all_options(locale: str, day: date) -> str:
    return "\n".join(
        f'<optgroup label="{escape(group)}">'
        + "".join(f'<option value="{escape(zone)}">{escape(label)}</option>'
                  for zone, label in options)
        + "</optgroup>"
        for group, options in zone_choices(locale))


def zone_options(chosen: str | None, locale: str) -> Markup:
    """Every offered zone, `chosen` selected; a chosen zone the list lacks (an alias sent
    through the API) is offered first under its own name."""
    html = _all_options(locale, datetime.now(UTC).date())
    if not chosen:
        return Markup(html)
    plain = f'<option value="{escape(chosen)}">'
    if plain in html:
        return Markup(html.replace(plain, plain[:-1] + " selected>", 1))
    return Markup(f'<option value="{escape(chosen)}" selected>'
                  f'{escape(zone_label(chosen, locale))}</option>{html}')
