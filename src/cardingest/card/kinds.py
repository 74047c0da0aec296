"""Which card files are photos and which are their sidecars, by extension: the scan, `cards`,
the planner and the slate reader ask, and only the scan needs the capture-time readers."""

from __future__ import annotations

PHOTO_EXTENSIONS = frozenset(
    [
        "jpg",
        "jpeg",
        "heic",
        "heif",
        "hif",
        "tif",
        "tiff",
        "dng",
        "cr2",
        "cr3",
        "crw",
        "nef",
        "nrw",
        "arw",
        "srf",
        "sr2",
        "orf",
        "rw2",
        "raf",
        "pef",
        "srw",
        "x3f",
        "3fr",
        "rwl",
        "iiq",
        "erf",
        "kdc",
        "dcr",
        "mrw",
        "mos",
        "mpo",  # Fuji 3D and other multi-picture JPEGs
        "gpr",  # GoPro RAW (DNG)
        "raw",  # Panasonic and Leica before RW2
        "fff",  # Hasselblad
        "mef",  # Mamiya
        "ori",  # Olympus / OM System high-res shot original (ORF)
        "x3i",  # Sigma
    ]
)
SIDECAR_EXTENSIONS = frozenset({"thm", "xmp"})


def is_sidecar(path: str) -> bool:
    """Whether a file name (on a card or in the archive) is a THM or XMP sidecar: its last
    extension is, whatever its case. A file named ``xmp`` has no extension (and a dot in a
    folder's name leaves a ``/`` in what follows it)."""
    _, dot, extension = path.rpartition(".")
    return bool(dot) and extension.lower() in SIDECAR_EXTENSIONS


TIFF_STARTS = (b"II*\x00", b"MM\x00*")
"""The first four bytes of a TIFF block, little- or big-endian."""
RAW_TIFF_STARTS = (*TIFF_STARTS, b"IIRO", b"IIRS", b"MMOR", b"IIU\x00")
"""Those, and a TIFF block under a maker's own magic number: Olympus's ORF and Panasonic's
RW2, whose IFDs are a TIFF's."""
_JPEG_NAMES = frozenset({"jpg", "jpeg"})
_HEIF_NAMES = frozenset({"heic", "heif", "hif"})
_OTHER_NAMES = PHOTO_EXTENSIONS - _JPEG_NAMES - {"mpo"}
"""RAW, HEIF and TIFF names: most RAW files are TIFF inside, so only bytes of another known
kind (a JPEG, PNG, text) are told from them."""
_ISO_PHOTO_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif"})
_OTHER_KINDS = (
    (b"\x89PNG", "a PNG image"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file (WebP or AVI)"),
    (b"%PDF", "a PDF document"),
)


def not_as_named(path: str, head: bytes) -> str | None:
    """What a file named as a JPEG, RAW or HEIF photo holds instead, in words (its first
    bytes, ``head``), or None: a HEIF photo an export renamed, a JPEG named .CR2, a PNG, a
    video, a letter (named .JPG). Filed, it would lie in the archive under a kind no
    viewer, share or PACS export can open it as; held, it stays on the card with the reason.
    Bytes of no known kind are None: a photo whose first sector the card lost is still the
    photo, and is archived as it is; so is a TIFF under any RAW name (most RAW files are
    TIFF inside)."""
    _, dot, extension = path.rpartition(".")
    extension = extension.lower()
    if not dot or len(head) < 2:
        return None
    if extension in _JPEG_NAMES:
        return _not_a_jpeg(head)
    if extension not in _OTHER_NAMES:
        return None
    if head.startswith(b"\xff\xd8\xff"):
        return "a JPEG photo (rename it .JPG)"
    if head[4:8] == b"ftyp":
        if head[8:12] in _ISO_PHOTO_BRANDS and extension not in _HEIF_NAMES:
            return "a HEIF photo (rename it .HEIC)"
        if head[8:12] == b"crx " and extension != "cr3":
            return "a Canon CR3 RAW file (rename it .CR3)"
        return None  # a brand of a camera not seen yet, or a video: told by its reader
    if extension in _HEIF_NAMES and head[:4] in TIFF_STARTS:
        return "a TIFF or RAW file"
    # Not text: some RAW files start with words ("FUJIFILMCCD-RAW ").
    return next((what for start, what in _OTHER_KINDS if head.startswith(start)), None)


def _not_a_jpeg(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8"):
        return None
    if head[4:8] == b"ftyp":
        if head[8:12] in _ISO_PHOTO_BRANDS:
            return "a HEIF photo (rename it .HEIC)"
        if head[8:12] == b"crx ":
            return "a Canon CR3 RAW file (rename it .CR3)"
        return "an MP4 or MOV video"
    if head[:4] in TIFF_STARTS:
        return "a TIFF or RAW file"
    for start, what in _OTHER_KINDS:
        if head.startswith(start):
            return what
    text = _as_text(head)
    if text is not None:
        shown = " ".join(text.split())[:12]
        return f"text, not a JPEG (it starts with {shown!r})"
    return None  # binary: a JPEG damaged at its start is archived as it is, with its warning


_TEXT_MARKS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def _as_text(head: bytes) -> str | None:
    """``head`` read as text (UTF-8, or UTF-16 after its byte-order mark), if it is all
    printable: a letter, a web page, notes. A character cut at the end of ``head`` is left
    out."""
    encoding, start = "utf-8", 0
    for mark, name in _TEXT_MARKS:
        if head.startswith(mark):
            encoding, start = name, len(mark)
            break
    body = head[start:]
    for cut in range(4):
        try:
            text = body[: len(body) - cut].decode(encoding)
        except UnicodeDecodeError:
            continue
        return text if text and all(c.isprintable() or c in "\t\n\r" for c in text) else None
    return None
