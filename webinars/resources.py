"""Files that ship with the code, found the same way in a checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def templates_dir() -> Path:
    """The Jinja2 templates (pages/ and email/).

    The repository keeps them in templates/ at its root; the wheel maps that directory into the
    package as webinars/templates (pyproject.toml, package-dir), so an installed copy finds them
    beside this module and a checkout or editable install one level up.
    """
    for candidate in (HERE / "templates", HERE.parent / "templates"):
        if (candidate / "pages").is_dir():
            return candidate
    raise FileNotFoundError(f"no templates in {HERE / 'templates'} or {HERE.parent / 'templates'}"
                            ": the package is installed without its data files")
