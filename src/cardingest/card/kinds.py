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
