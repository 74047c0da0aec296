"""The contact sheet: one self-contained HTML page of a plan, pure (no I/O).

One section per patient group (or per time-gap group before IDs are known), each photo an
upright thumbnail with its card name, capture time and target name; held photos in a section
of their own with their reasons; the warnings. Everything the card supplied (file names,
camera text) is HTML-escaped and its control and direction-changing characters are shown as
visible escapes, so a file name can neither inject markup nor disguise itself. The page has no
script and requests nothing: thumbnails are ``data:`` URIs, CSS is inline, and a
Content-Security-Policy says so to the browser as well.
"""

from __future__ import annotations

import base64
import html
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from ..models import MediaFile, Plan, PlanItem
from ..plan.naming import target_path

if TYPE_CHECKING:
    from .thumbs import Thumbnail

SectionKind = Literal["group", "held", "failed"]


@dataclass(frozen=True)
class Tile:
    """One file on the sheet."""

    source: str
    captured: datetime
    action: str | None = None
    """copy, skip, hold, failed; None on a sheet of groups (before IDs are known)."""
    target: str | None = None
    suffix: str | None = None
    """The ``-N`` of a same-second name, shown marked."""
    reason: str | None = None
    sidecar: bool = False
    repair: bool = False
    slate: bool = False
    """The barcode photo whose ID assigned this group (``--slates``)."""


@dataclass(frozen=True)
class Section:
    kind: SectionKind
    number: int
    tiles: tuple[Tile, ...]
    patient_id: str | None = None
    map_line: int | None = None
    diagnosis: tuple[str, ...] = ()
    site: str | None = None
    consent: str | None = None

    @property
    def photos(self) -> tuple[Tile, ...]:
        return tuple(t for t in self.tiles if not t.sidecar)


@dataclass(frozen=True)
class Sheet:
    title: str
    facts: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    warnings: tuple[str, ...] = ()
    notice: str = ""


@dataclass(frozen=True)
class Final:
    """What an ingest did with one planned file (its outcome), for ``ingest --sheet``."""

    item: PlanItem
    action: str
    target: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Naming:
    folder_template: str = "{id}"
    name_template: str = "{id}-{date}-{time}"


def same_second_suffix(item: PlanItem, target: str | None, naming: Naming) -> str | None:
    """``-2`` when ``target`` is the item's plain name plus a same-second suffix."""
    if not target or not item.patient_id:
        return None
    try:
        plain = target_path(
            naming.folder_template, naming.name_template, item.patient_id, item.captured_at, 1, ""
        )
    except Exception:  # a template that cannot render here: no mark, the name still shows
        return None
    stem = target.rpartition(".")[0] if "." in target.rpartition("/")[2] else target
    rest = stem[len(plain) :] if stem.startswith(plain) else ""
    number = rest[1:]
    return rest if rest[:1] == "-" and number.isascii() and number.isdigit() else None


def _tile(final: Final, naming: Naming) -> Tile:
    item = final.item
    return Tile(
        source=item.source,
        captured=item.captured_at,
        action=final.action,
        target=final.target,
        suffix=same_second_suffix(item, final.target, naming),
        reason=final.reason,
        sidecar=item.sidecar,
        repair=item.repair and final.action == "copy",
        slate=item.role == "slate",
    )


def plan_finals(plan: Plan) -> list[Final]:
    return [Final(item, item.action, item.target, item.reason) for item in plan.items]


def plan_sheet(
    plan: Plan,
    *,
    title: str,
    finals: Sequence[Final] | None = None,
    naming: Naming = Naming(),
    facts: Iterable[tuple[str, str]] = (),
    notice: str = "",
) -> Sheet:
    """The sheet of a plan (``finals`` None) or of what an ingest did (one Final per item).

    Files filed (or already archived) under one patient from one map row form a group, in
    order of their first capture time; held files form one section, failed files another.
    """
    entries = list(finals) if finals is not None else plan_finals(plan)
    done = {f.item.source for f in entries}
    entries += [
        Final(item, "hold", None, "not done: the ingest stopped before it")
        for item in plan.items
        if item.source not in done
    ]
    groups: dict[tuple[str, int | None], list[Final]] = {}
    held: list[Final] = []
    failed: list[Final] = []
    for entry in entries:
        if entry.action == "hold" or entry.item.patient_id is None:
            held.append(entry)
        elif entry.action == "failed":
            failed.append(entry)
        else:
            groups.setdefault((entry.item.patient_id, entry.item.map_line), []).append(entry)
    sections: list[Section] = []
    ordered = sorted(
        groups.values(), key=lambda g: (min(e.item.captured_at for e in g), g[0].item.source)
    )
    for number, group in enumerate(ordered, start=1):
        group.sort(key=lambda e: (e.item.captured_at, e.item.source))
        first = group[0].item
        sections.append(
            Section(
                "group",
                number,
                tuple(_tile(e, naming) for e in group),
                patient_id=first.patient_id,
                map_line=first.map_line,
                diagnosis=first.diagnosis,
                site=first.site,
                consent=first.consent,
            )
        )
    apart: list[tuple[SectionKind, list[Final]]] = [("failed", failed), ("held", held)]
    for kind, members in apart:
        if members:
            members.sort(key=lambda e: e.item.source)
            sections.append(Section(kind, 0, tuple(_tile(e, naming) for e in members)))
    counts = {
        "photos": sum(1 for e in entries if not e.item.sidecar),
        "groups": len(ordered),
        "held": sum(1 for e in held if not e.item.sidecar),
    }
    summary = f"{counts['photos']} photo(s) in {counts['groups']} group(s), {counts['held']} held"
    return Sheet(
        title=title,
        facts=(("Card", plan.source), ("Archive", plan.archive), *facts, ("Summary", summary)),
        sections=tuple(sections),
        warnings=plan.warnings,
        notice=notice,
    )


def groups_sheet(
    groups: Sequence[Sequence[MediaFile]],
    *,
    title: str,
    source: str,
    facts: Iterable[tuple[str, str]] = (),
    notice: str = "",
    clock_offset: timedelta = timedelta(0),
) -> Sheet:
    """The sheet of time-gap groups, numbered from 1 as the prompts and the template are;
    its times are the camera's with ``clock_offset`` added, as the template's."""
    sections = tuple(
        Section(
            "group",
            number,
            tuple(
                Tile(source=m.path, captured=m.captured + clock_offset, sidecar=m.sidecar)
                for m in sorted(group, key=lambda m: (m.captured, m.path))
            ),
        )
        for number, group in enumerate(groups, start=1)
    )
    photos = sum(len(s.photos) for s in sections)
    return Sheet(
        title=title,
        facts=(
            ("Card", source),
            *facts,
            ("Summary", f"{photos} photo(s) in {len(sections)} group(s)"),
        ),
        sections=sections,
        warnings=tuple(m.warning for g in groups for m in g if m.warning),
        notice=notice,
    )


# --------------------------------------------------------------------------- rendering


def visible(text: str) -> str:
    """Control, format (bidi overrides, zero-width) and other invisible characters as
    ``\\x1b``/``\\u202e`` escapes, so what the page shows is what the file is called."""
    out = []
    for char in text:
        if unicodedata.category(char) in ("Cc", "Cf", "Co", "Cs", "Zl", "Zp", "Cn"):
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def esc(text: object) -> str:
    """HTML-escape (quotes too) after making invisible characters visible."""
    return html.escape(visible(str(text)), quote=True)


def _span(tiles: Sequence[Tile]) -> str:
    times = sorted(t.captured for t in tiles)
    if not times:
        return ""
    first, last = times[0], times[-1]
    if first == last:
        return f"{first:%Y-%m-%d %H:%M:%S}"
    end = f"{last:%H:%M:%S}" if last.date() == first.date() else f"{last:%Y-%m-%d %H:%M:%S}"
    return f"{first:%Y-%m-%d %H:%M:%S} to {end}"


def _name(path: str) -> str:
    return path.rpartition("/")[2]


def _target_html(tile: Tile) -> str:
    if not tile.target:
        return ""
    name = _name(tile.target)
    if tile.suffix and tile.suffix in name:
        stem, _, ext = name.rpartition(".") if "." in name else (name, "", "")
        if stem.endswith(tile.suffix):
            base = stem[: -len(tile.suffix)]
            dot = f".{esc(ext)}" if ext else ""
            return (
                f'<span class="target" title="{esc(tile.target)}">→ {esc(base)}'
                f'<mark class="suffix" title="same second as another photo">'
                f"{esc(tile.suffix)}</mark>{dot}</span>"
            )
    return f'<span class="target" title="{esc(tile.target)}">→ {esc(name)}</span>'


BADGES = {
    "skip": ("skip", "already archived"),
    "failed": ("failed", "FAILED"),
    "hold": ("held", "HELD"),
}


def _figure(tile: Tile, thumb: Thumbnail | None) -> str:
    if thumb is not None and thumb.jpeg is not None:
        data = base64.b64encode(thumb.jpeg).decode("ascii")
        picture = (
            f'<img src="data:image/jpeg;base64,{data}" width="{thumb.width}" '
            f'height="{thumb.height}" alt="{esc(tile.source)}" title="{esc(thumb.origin)}">'
        )
    else:
        note = thumb.note if thumb is not None and thumb.note else "no preview"
        picture = f'<div class="placeholder">{esc(note)}</div>'
    badge = ""
    if tile.slate:
        badge = '<span class="badge slate">slate: its barcode assigned this group</span>'
    if tile.repair:
        badge = '<span class="badge repair">repair: copied again</span>'
    elif tile.action in BADGES:
        css, text = BADGES[tile.action]
        badge = f'<span class="badge {css}">{esc(text)}</span>'
    reason = ""
    if tile.reason and tile.action in ("hold", "failed"):
        reason = f'<span class="reason">{esc(tile.reason)}</span>'
    return (
        f'<figure class="photo {esc(tile.action or "")}" data-source="{esc(tile.source)}">'
        f'<div class="frame">{picture}</div><figcaption>'
        f'<span class="card-name" title="{esc(tile.source)}">{esc(_name(tile.source))}</span>'
        f'<span class="time">{tile.captured:%Y-%m-%d %H:%M:%S}</span>'
        f"{_target_html(tile)}{badge}{reason}</figcaption></figure>"
    )


def _sidecars(tiles: Sequence[Tile]) -> str:
    if not tiles:
        return ""
    items = "".join(
        f'<li data-source="{esc(t.source)}">{esc(_name(t.source))} {_target_html(t)}'
        + (
            f' <span class="reason">{esc(t.reason)}</span>'
            if t.reason and t.action == "hold"
            else ""
        )
        + "</li>"
        for t in tiles
    )
    return f'<ul class="sidecars"><li class="label">Sidecars:</li>{items}</ul>'


def _section(section: Section, thumbs: Mapping[str, Thumbnail]) -> str:
    photos = section.photos
    sidecars = [t for t in section.tiles if t.sidecar]
    count = f"{len(photos)} photo(s)"
    if section.kind == "held":
        head = (
            '<h2><span class="held-label">HELD: NOT FILED</span> '
            f"{count} stay on the card</h2>"
            '<p class="facts">These photos are not copied to any patient. Each says why.</p>'
        )
    elif section.kind == "failed":
        head = (
            f'<h2><span class="held-label">FAILED</span> {count} not archived</h2>'
            '<p class="facts">Still on the card; run the ingest again.</p>'
        )
    else:
        who = (
            f'<span class="pid">{esc(section.patient_id)}</span>'
            if section.patient_id
            else '<span class="pid unassigned">ID not yet given</span>'
        )
        line = f" · map line {section.map_line}" if section.map_line else ""
        head = (
            f'<h2><span class="group-no">Group {section.number}</span> {who}</h2>'
            f'<p class="facts"><span class="span">{esc(_span(photos or section.tiles))}</span>'
            f" · {count}{line}</p>"
        )
        keywords = []
        if section.diagnosis:
            keywords.append(f"diagnosis: {esc('; '.join(section.diagnosis))}")
        if section.site:
            keywords.append(f"site: {esc(section.site)}")
        if section.consent:
            keywords.append(f"consent: {esc(section.consent)}")
        if keywords:
            head += f'<p class="keywords">{" · ".join(keywords)}</p>'
    figures = "".join(_figure(t, thumbs.get(t.source)) for t in photos)
    number = f' data-group="{section.number}"' if section.kind == "group" else ""
    pid = f' data-id="{esc(section.patient_id)}"' if section.patient_id else ""
    return (
        f'<section class="{section.kind}"{number}{pid}>{head}'
        f'<div class="photos">{figures}</div>{_sidecars(sidecars)}</section>'
    )


CSS = """
:root{color-scheme:light;--ink:#1b1f24;--muted:#5b6470;--line:#d6dbe1;--held:#b00020}
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);
margin:0;padding:16px 20px;background:#f4f6f8}
header h1{font-size:20px;margin:0 0 6px}
.notice{background:#fff4ce;border:1px solid #e0c060;padding:6px 10px;margin:8px 0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0 0 12px}
dl.facts dt{color:var(--muted)}dl.facts dd{margin:0;word-break:break-all}
section{background:#fff;border:1px solid var(--line);border-radius:6px;margin:14px 0;
padding:10px 14px}
section h2{font-size:17px;margin:2px 0}
.group-no{color:var(--muted);font-weight:600;margin-right:6px}
.pid{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:19px;letter-spacing:.5px}
.pid.unassigned{font-family:inherit;font-size:14px;color:var(--muted);font-weight:400}
p.facts,p.keywords{margin:2px 0 8px;color:var(--muted)}
.photos{display:flex;flex-wrap:wrap;gap:10px}
figure.photo{margin:0;width:214px;border:1px solid var(--line);border-radius:4px;
padding:6px;background:#fafbfc}
.frame{height:150px;display:flex;align-items:center;justify-content:center;background:#eef0f3}
.frame img{width:100%;height:100%;object-fit:contain;image-orientation:none}
.placeholder{padding:8px;text-align:center;color:var(--muted);font-size:12px;
border:2px dashed var(--line);width:100%;height:100%;display:flex;align-items:center;
justify-content:center}
figcaption{display:flex;flex-direction:column;font-size:12px;margin-top:4px;
word-break:break-all}
.card-name{font-weight:600}.time{color:var(--muted)}
.target{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px}
mark.suffix{background:#ffd54f;font-weight:700;padding:0 2px}
.badge{align-self:flex-start;font-size:11px;font-weight:700;padding:1px 6px;border-radius:3px;
margin-top:3px}
.badge.skip{background:#dfe7ef;color:#234}.badge.slate{background:#fff2c2;color:#5a4300}.badge.repair{background:#e3f2e1;color:#1f5122}
.badge.held,.badge.failed{background:var(--held);color:#fff}
.reason{color:var(--held);font-weight:600}
section.held,section.failed{border:3px solid var(--held);
background:repeating-linear-gradient(135deg,#fff,#fff 14px,#fdecef 14px,#fdecef 28px)}
section.held h2,section.failed h2{color:var(--held)}
.held-label{background:var(--held);color:#fff;padding:1px 8px;border-radius:3px;
margin-right:6px}
section.held figure.photo,section.failed figure.photo{border-color:var(--held)}
ul.sidecars{list-style:none;padding:0;margin:8px 0 0;font-size:12px;color:var(--muted);
display:flex;flex-wrap:wrap;gap:4px 14px}
ul.warnings{margin:4px 0;padding-left:20px}
footer{color:var(--muted);font-size:12px;margin-top:16px}
@media print{body{background:#fff}section{break-inside:avoid-page}}
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'none'"


def render(sheet: Sheet, thumbs: Mapping[str, Thumbnail], *, generated: datetime) -> str:
    """The whole page. ``thumbs`` maps a tile's source to its thumbnail (missing: placeholder)."""
    facts = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in sheet.facts)
    notice = f'<p class="notice">{esc(sheet.notice)}</p>' if sheet.notice else ""
    warnings = ""
    if sheet.warnings:
        items = "".join(f"<li>{esc(w)}</li>" for w in sheet.warnings)
        warnings = (
            f'<section class="warnings"><h2>Warnings ({len(sheet.warnings)})</h2>'
            f'<ul class="warnings">{items}</ul></section>'
        )
    body = "".join(_section(s, thumbs) for s in sheet.sections)
    if not sheet.sections:
        body = "<p>No photos.</p>"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(sheet.title)}</title><style>{CSS}</style></head><body>"
        f'<header><h1>{esc(sheet.title)}</h1>{notice}<dl class="facts">{facts}'
        f"<dt>Made</dt><dd>{generated:%Y-%m-%d %H:%M:%S}</dd></dl></header>"
        f"{warnings}{body}"
        "<footer>cardingest contact sheet. It shows patient IDs and clinical photos: keep it "
        "with the clinic's records, not in a shared or synced folder, and delete it when done."
        "</footer></body></html>\n"
    )
