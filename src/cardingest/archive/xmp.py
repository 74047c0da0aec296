"""XMP sidecars that carry a photo's keywords: ``NAME.xmp`` next to ``NAME.jpg`` in the archive.

The sidecar holds ``dc:subject`` (a bag of plain keywords: each diagnosis, the site, the
consent level) and ``lr:hierarchicalSubject`` (``diagnosis|melanoma``, ``site|back``,
``consent|teaching``), which exiftool, digiKam and Lightroom read. The archived photo itself
is never touched: it stays byte-identical to the card's.

A sidecar written here says so in ``x:xmptk``; any other file under that name (a camera's or
an editor's XMP) is never overwritten or removed, and the keywords then live only in the
catalogue.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..models import PlanItem
from ..storage.durable import atomic_write_bytes, fsync_dir
from ..storage.modes import open_beneath
from ..storage.transfer import Published

if TYPE_CHECKING:
    from .catalogue import CatalogueRecord

TOOLKIT = f"cardingest {__version__}"
MARKER = b'x:xmptk="cardingest'
_TOOLKIT_ATTRIBUTE = re.compile(rb' x:xmptk="[^"]*"')
MAX_SIDECAR = 1024 * 1024
"""Bytes of a sidecar read at most: far more than any keywords sidecar holds."""
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_HEAD_BYTES = 4096


@dataclass(frozen=True)
class Keywords:
    """What a photo is tagged with; empty when it has no keywords at all."""

    diagnosis: tuple[str, ...] = ()
    site: str | None = None
    consent: str | None = None

    def __bool__(self) -> bool:
        return bool(self.diagnosis or self.site or self.consent)

    @property
    def flat(self) -> list[str]:
        """``dc:subject``: each keyword once, diagnosis first."""
        values = [*self.diagnosis, self.site or "", self.consent or ""]
        return list(dict.fromkeys(v for v in values if v))

    @property
    def hierarchical(self) -> list[str]:
        """``lr:hierarchicalSubject``; a ``|`` in a value would start a level: it becomes ``/``."""
        pairs = [("diagnosis", d) for d in self.diagnosis]
        pairs += [("site", self.site or ""), ("consent", self.consent or "")]
        return list(dict.fromkeys(f"{kind}|{v.replace('|', '/')}" for kind, v in pairs if v))


def keywords_of(record: CatalogueRecord) -> Keywords:
    """A catalogue record's keywords, as its sidecar carries them."""
    return Keywords(record.diagnosis, record.site, record.consent)


_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"))


def _text(value: str) -> str:
    """XML-escaped text (xml.sax.saxutils would pull in urllib and ssl: 30 ms a start)."""
    if _INVALID_XML.search(value):
        raise ValueError(f"keyword {value[:40]!r} contains characters XML cannot hold")
    for char, entity in _ENTITIES:
        value = value.replace(char, entity)
    return value


def _bag(tag: str, values: Sequence[str]) -> str:
    items = "".join(f"     <rdf:li>{_text(v)}</rdf:li>\n" for v in values)
    return f"   <{tag}>\n    <rdf:Bag>\n{items}    </rdf:Bag>\n   </{tag}>\n"


def render(keywords: Keywords) -> bytes:
    """The sidecar document for ``keywords`` (UTF-8, every value XML-escaped)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="{_text(TOOLKIT)}">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:lr="http://ns.adobe.com/lightroom/1.0/">\n'
        + _bag("dc:subject", keywords.flat)
        + _bag("lr:hierarchicalSubject", keywords.hierarchical)
        + "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
    ).encode()


def sidecar_path(photo: Path) -> Path:
    """``NAME.xmp`` for ``NAME.jpg`` (the photo's file name without its extension)."""
    return photo.with_suffix(".xmp")


def is_ours(path: Path) -> bool | None:
    """True for a sidecar cardingest wrote, False for any other file, None when there is none."""
    try:
        with open(path, "rb") as handle:
            return MARKER in handle.read(_HEAD_BYTES)
    except FileNotFoundError:
        return None


def as_written(data: bytes, keywords: Keywords) -> bool:
    """Whether ``data`` is the keywords sidecar cardingest writes for ``keywords`` (the
    catalogue's; whatever version wrote it: the toolkit attribute aside), not one edited
    since (a keyword added or changed by hand lives only there)."""
    if MARKER not in data[:_HEAD_BYTES]:
        return False
    try:
        expected = render(keywords)
    except ValueError:
        return False
    return _TOOLKIT_ATTRIBUTE.sub(b"", data) == _TOOLKIT_ATTRIBUTE.sub(b"", expected)


def give_way(root: Path, target: str, keywords: Keywords) -> bool:
    """Remove the keywords sidecar cardingest wrote at ``root/target`` (archive-relative),
    as it wrote it for the photo's catalogued ``keywords`` (`as_written`: one edited by
    hand holds what the catalogue does not),
    where the camera's own XMP of that photo is about to be copied (one come to the card
    after the photo was archived with keywords): the camera's file takes its photo's
    ``NAME.xmp``, as in a first ingest, and the keywords stay in the catalogue. Any other
    file there is left. The folder is reached with no link followed (`modes.open_beneath`).
    Whether one was removed. A disk that refuses (read-only, pulled) leaves it: the copy
    that follows then fails there, with its own message, and the photo stays on the card."""
    *folders, name = target.split("/")
    try:
        folder = open_beneath(root, folders)
    except OSError:
        return False
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
        try:
            ours = as_written(os.pread(fd, MAX_SIDECAR, 0), keywords)
        finally:
            os.close(fd)
        if not ours:
            return False
        os.unlink(name, dir_fd=folder)
        fsync_dir(Path(root, *folders))
    except OSError:
        return False
    finally:
        os.close(folder)
    return True


def sidecar_problem(photo: Path, keywords: Keywords) -> str | None:
    """What is wrong with ``photo``'s sidecar against the catalogue's ``keywords``, for
    `verify`: missing, out of date, or left after the keywords were removed. None when it
    agrees, and for another program's file under that name (never ours to judge). The
    version of cardingest that wrote it does not count."""
    path = sidecar_path(photo)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SIDECAR)
    except FileNotFoundError:
        return "missing: the catalogue has keywords for this photo" if keywords else None
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if MARKER not in data[:_HEAD_BYTES]:
        return None
    if not keywords:
        return "left over: the catalogue has no keywords for this photo"
    try:
        expected = render(keywords)
    except ValueError:
        return None  # keywords XML cannot hold are never written; the catalogue keeps them
    if _TOOLKIT_ATTRIBUTE.sub(b"", data) != _TOOLKIT_ATTRIBUTE.sub(b"", expected):
        return "out of date: it says other keywords than the catalogue"
    return None


def write_sidecar(photo: Path, keywords: Keywords) -> str:
    """Bring ``photo``'s sidecar in line with ``keywords``; returns what happened.

    ``"written"``, ``"unchanged"``, ``"removed"`` (ours, and no keywords are left), ``"none"``
    (no keywords and no sidecar) or ``"foreign"`` (another program's file, left alone).
    Raises OSError when the disk refuses.
    """
    path = sidecar_path(photo)
    ours = is_ours(path)
    if ours is False:
        return "foreign"
    if not keywords:
        if ours is None:
            return "none"
        os.unlink(path)
        fsync_dir(path.parent)
        return "removed"
    data = render(keywords)
    if ours and path.read_bytes() == data:
        return "unchanged"
    atomic_write_bytes(path, data)
    return "written"


def camera_sidecar_stems(paths: Iterable[str]) -> set[str]:
    """Lower-cased ``folder/stem`` of every ``.xmp`` among relative ``paths``."""
    return {p.rpartition(".")[0].lower() for p in paths if p.lower().endswith(".xmp")}


def reserved_names(plan_targets: Iterable[str | None]) -> set[str]:
    """Sidecar names a plan fills with camera XMP files (copied or already archived)."""
    return camera_sidecar_stems(t for t in plan_targets if t)


def write_for_copy(item: PlanItem, published: Sequence[Published], reserved: set[str]) -> list[str]:
    """Sidecars next to each verified copy of one photo; returns the problems, if any.

    Nothing is written for a sidecar file itself or for a photo without keywords (see
    `write_sidecars` for the names left to the camera's own XMP).
    """
    keywords = Keywords(item.diagnosis, item.site, item.consent)
    if item.sidecar or not keywords:
        return []
    return write_sidecars(keywords, [(copy.relpath, copy.path) for copy in published], reserved)


def write_sidecars(
    keywords: Keywords, copies: Sequence[tuple[str, Path]], reserved: set[str]
) -> list[str]:
    """``keywords``' sidecar next to each ``(relpath, path)`` copy of a photo; the problems.

    Where the plan puts the camera's own XMP under the same ``NAME.xmp`` (``reserved``) that
    file is kept as the camera wrote it (never overwritten), and the keywords stay in the
    catalogue only.
    """
    problems = []
    for relpath, path in copies:
        if relpath.rpartition(".")[0].lower() in reserved:
            continue
        try:
            write_sidecar(path, keywords)
        except (OSError, ValueError) as exc:
            problems.append(f"keywords sidecar {sidecar_path(path)} not written: {exc}")
    return problems
