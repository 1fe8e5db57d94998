"""An organization's brand: a logo, a colour and a short description, inherited down the tree.

Each field is inherited on its own: a school without a logo shows its region's, even when it
chose a colour of its own. A logo is accepted only when its bytes are a PNG, JPEG or WebP image
(never by its name or declared type), within size and dimension limits checked before any
pixel is decoded; it is then decoded and written anew as a PNG of at most LOGO_FIT pixels a
side, without any metadata, so what is served is our own encoder's output and never the
uploaded bytes.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .clock import Clock
from .errors import ValidationFailed
from .models import Organization, OrganizationBrand
from .organizations import all_organizations, chain
from .validation import one_line

MAX_LOGO_BYTES = 1024 * 1024
MAX_LOGO_SIDE = 2000
MIN_LOGO_SIDE = 32
#: The stored logo fits in this square (pages show it at most 160 pixels wide, twice for
#: high-density screens, with room to spare).
LOGO_FIT = 512
MAX_DESCRIPTION = 300
COLOR_RE = re.compile(r"^#[0-9a-f]{6}$")
#: WCAG 2 AA for normal text: white button text on the colour needs at least this contrast.
MIN_CONTRAST = 4.5

#: What the first bytes of each accepted format are, and Pillow's name for it.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
)


@dataclass(frozen=True)
class Logo:
    """A logo as stored: our own PNG encoding of the upload."""

    png: bytes
    width: int
    height: int

    @property
    def version(self) -> str:
        return hashlib.sha256(self.png).hexdigest()[:16]


def sniff(data: bytes) -> str | None:
    """The format the bytes say they are (PNG, JPEG, WEBP), or None for anything else."""
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def reencode(data: bytes) -> Logo:
    """The upload checked and re-encoded, or ValidationFailed({"logo": reason})."""

    def refuse(reason: str) -> ValidationFailed:
        return ValidationFailed({"logo": reason})

    if not data:
        raise refuse("choose a PNG, JPEG or WebP image")
    if len(data) > MAX_LOGO_BYTES:
        raise refuse(f"is larger than {MAX_LOGO_BYTES // (1024 * 1024)} MB")
    kind = sniff(data)
    if kind is None:
        raise refuse("must be a PNG, JPEG or WebP image")
    too_big = refuse(f"must be at most {MAX_LOGO_SIDE}×{MAX_LOGO_SIDE} pixels")
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its pixel limit; a bomb is refused either way.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[kind]) as image:
                # The header's dimensions, before a single pixel is decoded.
                width, height = image.size
                if width > MAX_LOGO_SIDE or height > MAX_LOGO_SIDE:
                    raise too_big
                if width < MIN_LOGO_SIDE or height < MIN_LOGO_SIDE:
                    raise refuse(f"must be at least {MIN_LOGO_SIDE}×{MIN_LOGO_SIDE} pixels")
                image.seek(0)  # an animation: its first frame
                image.load()
                picture = ImageOps.exif_transpose(image)  # a photo the right way up
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise too_big from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise refuse("could not be read as an image") from exc
    mode = "RGBA" if "A" in picture.getbands() or "transparency" in picture.info else "RGB"
    picture = picture.convert(mode)
    picture.thumbnail((LOGO_FIT, LOGO_FIT), Image.Resampling.LANCZOS)
    # A fresh image from the pixels alone: no EXIF, ICC profile, text chunks or comments.
    clean = Image.frombytes(mode, picture.size, picture.tobytes())
    out = io.BytesIO()
    clean.save(out, format="PNG", optimize=True)
    return Logo(out.getvalue(), clean.width, clean.height)


def contrast_with_white(color: str) -> float:
    """The WCAG 2 contrast ratio of white text on `color` ("#rrggbb")."""

    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i:i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return 1.05 / (luminance + 0.05)


def check_style(color: str, description: str) -> tuple[str | None, str | None, dict[str, str]]:
    """(colour, description, reasons per field): empty values mean "inherit" (None)."""
    errors: dict[str, str] = {}
    color = color.strip().lower()
    if color and not COLOR_RE.match(color):
        errors["color"] = "must be a colour written as #rrggbb"
    elif color and (ratio := contrast_with_white(color)) < MIN_CONTRAST:
        shown = f"{int(ratio * 10) / 10:.1f}"  # rounded down: 4.49 must not read as 4.5
        errors["color"] = (f"is too light: white text on it has a contrast of {shown}:1, "
                           f"at least {MIN_CONTRAST}:1 is needed; choose a darker colour")
    description = one_line(description)
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = f"must be at most {MAX_DESCRIPTION} characters"
    return color or None, description or None, errors


# --- stored brands and their inheritance ---------------------------------------------------


@dataclass(frozen=True)
class Brand:
    """What an organization shows: its own fields, or its nearest ancestor's for each one."""

    #: The organization it is shown for: its addresses are /o/<slug>/brand.css and logo.png.
    slug: str
    color: str | None = None
    description: str | None = None
    #: Whose logo it is (its id and name, the image's alt text) and the logo's version.
    logo_owner_id: int | None = None
    logo_alt: str = ""
    logo_version: str | None = None
    logo_width: int = 0
    logo_height: int = 0

    @property
    def logo_path(self) -> str | None:
        return f"/o/{self.slug}/logo.png?v={self.logo_version}" if self.logo_version else None

    @property
    def css(self) -> str:
        """The stylesheet pages link (the policy allows no inline style)."""
        if not self.color:
            return "/* no brand colour */\n"
        return (f"/* {self.slug} */\n:root {{ --accent: {self.color}; }}\n"
                f".brand-bar {{ border-top: .35rem solid {self.color}; }}\n")

    @property
    def css_version(self) -> str:
        return hashlib.sha256(self.css.encode()).hexdigest()[:16]

    @property
    def css_path(self) -> str | None:
        return f"/o/{self.slug}/brand.css?v={self.css_version}" if self.color else None


def inherit(orgs: Iterable[Organization], own: dict[int, OrganizationBrand],
            org_id: int) -> Brand:
    """The brand of `org_id`: the one function that walks the tree for it."""
    lineage = chain(orgs, org_id)
    if not lineage:
        raise ValueError(f"no organization {org_id}")
    rows = [(org, own[org.id]) for org in lineage if org.id in own]
    color = next((row.color for _, row in rows if row.color), None)
    description = next((row.description for _, row in rows if row.description), None)
    logo = next(((org, row) for org, row in rows if row.logo_version), None)
    if logo is None:
        return Brand(slug=lineage[0].slug, color=color, description=description)
    owner, row = logo
    return Brand(slug=lineage[0].slug, color=color, description=description,
                 logo_owner_id=owner.id, logo_alt=owner.name, logo_version=row.logo_version,
                 logo_width=row.logo_width or 0, logo_height=row.logo_height or 0)


async def own_brands(session: AsyncSession) -> dict[int, OrganizationBrand]:
    """Every stored brand row (the logo bytes stay deferred)."""
    rows = (await session.scalars(select(OrganizationBrand))).all()
    return {row.organization_id: row for row in rows}


async def brand_of(session: AsyncSession, org_id: int) -> Brand:
    own = await own_brands(session)
    if not own:  # nobody has a brand (the common case): no tree to walk
        slug = await session.scalar(select(Organization.slug).where(Organization.id == org_id))
        if slug is None:
            raise ValueError(f"no organization {org_id}")
        return Brand(slug=slug)
    return inherit(await all_organizations(session), own, org_id)


async def brands_of(session: AsyncSession, org_ids: Iterable[int]) -> dict[int, Brand]:
    """The brands of several organizations (a batch of e-mails)."""
    wanted = sorted(set(org_ids))
    own = await own_brands(session)
    if not own:
        rows = (await session.execute(select(Organization.id, Organization.slug)
                                      .where(Organization.id.in_(wanted)))).all()
        return {i: Brand(slug=slug) for i, slug in rows}
    orgs = await all_organizations(session)
    known = {o.id for o in orgs}
    return {i: inherit(orgs, own, i) for i in wanted if i in known}


async def logo_png(session: AsyncSession, brand: Brand) -> bytes | None:
    if brand.logo_owner_id is None:
        return None
    data: bytes | None = await session.scalar(
        select(OrganizationBrand.logo_png)
        .where(OrganizationBrand.organization_id == brand.logo_owner_id))
    return data


async def _row(session: AsyncSession, clock: Clock, org_id: int) -> OrganizationBrand:
    row = await session.get(OrganizationBrand, org_id)
    if row is None:
        row = OrganizationBrand(organization_id=org_id, updated_at=clock.now())
        session.add(row)
    row.updated_at = clock.now()
    return row


async def set_style(session: AsyncSession, clock: Clock, org_id: int, *, color: str,
                    description: str) -> None:
    """The organization's own colour and description; empty ones inherit again."""
    checked_color, checked_description, errors = check_style(color, description)
    if errors:
        raise ValidationFailed(errors)
    if checked_color is None and checked_description is None \
            and await session.get(OrganizationBrand, org_id) is None:
        return  # nothing of its own, nothing to store
    row = await _row(session, clock, org_id)
    row.color, row.description = checked_color, checked_description
    await session.flush()


async def set_logo(session: AsyncSession, clock: Clock, org_id: int, data: bytes) -> Logo:
    logo = reencode(data)  # refuses before anything is written
    row = await _row(session, clock, org_id)
    row.logo_png, row.logo_version = logo.png, logo.version
    row.logo_width, row.logo_height = logo.width, logo.height
    await session.flush()
    return logo


async def remove_logo(session: AsyncSession, clock: Clock, org_id: int) -> None:
    """The organization shows its ancestor's logo again (idempotent)."""
    row = await session.get(OrganizationBrand, org_id)
    if row is not None:
        row.logo_png = row.logo_version = row.logo_width = row.logo_height = None
        row.updated_at = clock.now()
        await session.flush()
