"""DICOM VL Photographic Image objects from archived photos: pure, no network, no files.

One instance per archived JPEG: the camera's JPEG bytes (or their lossless upright turn)
encapsulated unchanged as JPEG Baseline; the archive ID as Patient ID with its issuer; no
patient name, birth date or sex is invented (type 2 attributes stay empty). One Study per
patient and ingest, one Series per camera within it. Every UID is derived from the UID root
and what the photo is (its patient ID and sha256), so exporting or sending twice gives the
same instances, never duplicates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, JPEGBaseline8Bit

from .. import __version__
from . import uids
from .rotate import Frame
from .settings import DEFAULT_UID_ROOT, DicomOptions

VL_PHOTOGRAPHIC = UID("1.2.840.10008.5.1.4.1.1.77.1.4")
"""VL Photographic Image Storage."""
IMPLEMENTATION_VERSION = f"CARDINGEST_{__version__}".replace(".", "_")[:16]

# Body sites a clinic types, mapped to SNOMED CT codes (DICOM CID 4031 Common Anatomic
# Regions, and CID 2 for laterality). Matched as whole words; a longer term before one it holds
# ("upper arm" before "arm"): see `_region`.
SITES: tuple[tuple[str, str, str], ...] = (
    ("forearm", "14975008", "Forearm"),
    ("upper arm", "40983000", "Upper arm"),
    ("arm", "53120007", "Upper limb"),
    ("hand", "85562004", "Hand"),
    ("finger", "7569003", "Finger"),
    ("thumb", "76505004", "Thumb"),
    ("wrist", "8205005", "Wrist"),
    ("elbow", "127949000", "Elbow"),
    ("shoulder", "16982005", "Shoulder"),
    ("thigh", "68367000", "Thigh"),
    ("knee", "72696002", "Knee"),
    ("lower leg", "30021000", "Lower leg"),
    ("shin", "30021000", "Lower leg"),
    ("calf", "30021000", "Lower leg"),
    ("leg", "61685007", "Lower limb"),
    ("ankle", "344001", "Ankle"),
    ("foot", "56459004", "Foot"),
    ("feet", "56459004", "Foot"),
    ("sole", "57999000", "Sole of foot"),
    ("toe", "29707007", "Toe"),
    ("scalp", "41695006", "Scalp"),
    ("face", "89545001", "Face"),
    ("forehead", "52795006", "Forehead"),
    ("cheek", "60819002", "Cheek"),
    ("nose", "45206002", "Nose"),
    ("ear", "117590005", "Ear"),
    ("lip", "48477009", "Lip"),
    ("chin", "30291003", "Chin"),
    ("neck", "45048000", "Neck"),
    ("chest", "51185008", "Chest"),
    ("breast", "76752008", "Breast"),
    ("abdomen", "818983003", "Abdomen"),
    ("back", "77568009", "Back"),
    ("buttock", "46862004", "Buttock"),
    ("head", "69536005", "Head"),
    ("trunk", "22943007", "Trunk"),
)
LATERALITY = {"left": ("7771000", "Left"), "right": ("24028007", "Right")}
SIDE_CODES = {
    "L": LATERALITY["left"],
    "R": LATERALITY["right"],
    "B": ("51440002", "Right and left"),
}
_NO_SIDES = ("scalp", "face", "forehead", "nose", "lip", "chin", "neck", "chest", "abdomen")
UNPAIRED = frozenset(
    value for term, value, _ in SITES if term in (*_NO_SIDES, "back", "head", "trunk")
)
"""Regions with no left and right: Laterality (type 2C, for a paired structure whose side
is not known) must not be there at all (dciodvfy: "present when condition unsatisfied")."""


@dataclass(frozen=True)
class PhotoFacts:
    """What the dataset says about one archived photo (from its catalogue record)."""

    patient_id: str
    sha256: str
    ingest_id: str
    captured_at: datetime
    subsec: str = ""
    utc_offset: str | None = None
    make: str | None = None
    model: str | None = None
    site: str | None = None
    instance_number: int = 1
    series_number: int = 1
    study_start: datetime | None = None
    """The first capture of this patient in this ingest: the Study's date and time."""


def derive_uid(root: str, kind: str, *parts: str) -> UID:
    """A deterministic UID for ``kind`` (instance, study, series) of ``parts``."""
    return UID(uids.derive(root, kind, *parts))


def instance_uid(root: str, patient_id: str, sha256: str) -> UID:
    """The SOP Instance UID of a photo: from its ID and the sha256 of the archived file."""
    return UID(uids.instance(root, patient_id, sha256))


def study_uid(root: str, patient_id: str, ingest_id: str) -> UID:
    return derive_uid(root, "study", patient_id, ingest_id)


def series_uid(root: str, patient_id: str, ingest_id: str, make: str, model: str) -> UID:
    return derive_uid(root, "series", patient_id, ingest_id, make, model)


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "SCT"
    item.CodeMeaning = meaning
    return item


def laterality(site: str | None) -> str | None:
    """``L`` or ``R`` when the site names one side; ``B`` (Image Laterality's "both") for a
    paired region said to be on both ("both hands", "bilateral shins", "left and right
    forearm"); else None (not known: "right hand, left of the scar" names two sides of
    one)."""
    text = " ".join(re.findall(r"[a-z]+", (site or "").lower()))
    words = set(text.split())
    sides = [side for side in LATERALITY if side in words]
    if len(sides) == 1:
        return sides[0][0].upper()
    both = re.search(r"\b(both|bilateral|left and right|right and left)\b", text)
    region = _region(site) if both else None
    return "B" if region is not None and region[0] not in UNPAIRED else None


PART_OF = {
    "Finger": "Hand",
    "Thumb": "Hand",
    "Hand": "Upper limb",
    "Wrist": "Upper limb",
    "Forearm": "Upper limb",
    "Elbow": "Upper limb",
    "Upper arm": "Upper limb",
    "Toe": "Foot",
    "Sole of foot": "Foot",
    "Foot": "Lower limb",
    "Ankle": "Lower limb",
    "Lower leg": "Lower limb",
    "Knee": "Lower limb",
    "Thigh": "Lower limb",
    "Forehead": "Face",
    "Cheek": "Face",
    "Nose": "Face",
    "Lip": "Face",
    "Chin": "Face",
    "Face": "Head",
    "Scalp": "Head",
    "Ear": "Head",
}
"""Each region's whole, for a site that names a region and the whole it lies in ("finger,
right hand", "sole of foot"): the part is coded."""


def _wholes(meaning: str) -> set[str]:
    found = set()
    while (meaning := PART_OF.get(meaning, "")) and meaning not in found:
        found.add(meaning)
    return found


def _region(site: str | None) -> tuple[str, str] | None:
    """The SNOMED CT code and meaning of the region the site names (whole words,
    case-insensitive): the one region, or the part where the others are its wholes ("finger,
    right hand"). A site naming two regions neither of which holds the other ("right hand,
    scar from a forearm graft") is not coded: which one the photo shows is the clinician's
    word, in Image Comments. A trial's was coded by list order (Forearm)."""
    text = " ".join(re.findall(r"[a-z]+", (site or "").lower()))
    text = re.sub(r"\bback of (the )?", "", text)  # "back of hand": the hand, not the back
    found: dict[str, str] = {}
    for term, value, _meaning in SITES:
        # Not a term inside a longer one found already ("upper arm" holds "arm").
        if re.search(rf"\b{term}s?\b", text) and not any(
            re.search(rf"\b{term}s?\b", longer) for longer in found.values()
        ):
            found[value] = term
    meanings = {value: meaning for term, value, meaning in SITES if value in found}
    for value, meaning in meanings.items():
        others = {m for v, m in meanings.items() if v != value}
        if others <= _wholes(meaning):
            return value, meaning
    return None


def anatomic_region(site: str | None) -> Dataset | None:
    """A coded Anatomic Region Sequence item for a body site typed by the clinic, if known,
    with its side as modifier ("left forearm" is Forearm with the Left modifier). A site
    with no known region gives None (it goes as free text)."""
    region = _region(site)
    if region is None:
        return None
    item = _code(*region)
    side = laterality(site)
    if side is not None:
        item.AnatomicRegionModifierSequence = [_code(*SIDE_CODES[side])]
    return item


def _da(moment: datetime) -> str:
    return moment.strftime("%Y%m%d")


def _tm(moment: datetime, subsec: str = "") -> str:
    digits = "".join(ch for ch in subsec if ch.isascii() and ch.isdigit())[:6]
    return moment.strftime("%H%M%S") + (f".{digits}" if digits else "")


def _offset(utc_offset: str | None) -> str | None:
    """EXIF ``+13:00`` as DICOM ``+1300``; None for anything else, and for an offset no
    clock has (DICOM's range is -12:00 to +14:00; minutes 00-59), which a PACS may refuse."""
    if not utc_offset:
        return None
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", utc_offset.strip(), re.ASCII)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    total = (int(hours) * 60 + int(minutes)) * (-1 if sign == "-" else 1)
    if int(minutes) > 59 or not -12 * 60 <= total <= 14 * 60:
        return None
    return sign + hours + minutes


def _text(value: str | None, limit: int) -> str:
    """A short value (LO): a backslash would split it into two values."""
    return (value or "").replace("\\", "/").strip()[:limit]


def _long_text(value: str, limit: int) -> str:
    """Text (LT, ST), where a backslash is a character like another: kept as typed."""
    return value.strip()[:limit]


def build_dataset(facts: PhotoFacts, frame: Frame, options: DicomOptions) -> Dataset:
    """The VL Photographic Image dataset (with its file meta) for one photo."""
    info = frame.info
    root = options.uid_root
    sop_uid = instance_uid(root, facts.patient_id, facts.sha256)
    make, model = facts.make or "", facts.model or ""

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = VL_PHOTOGRAPHIC
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    meta.ImplementationClassUID = derive_uid(DEFAULT_UID_ROOT, "implementation", __version__)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION

    ds = Dataset()
    ds.file_meta = meta
    texts = [facts.site or "", make, model, options.issuer or ""]
    if any(not text.isascii() for text in texts):
        ds.SpecificCharacterSet = "ISO_IR 192"
    # SOP Common
    ds.SOPClassUID = VL_PHOTOGRAPHIC
    ds.SOPInstanceUID = sop_uid
    offset = _offset(facts.utc_offset)
    if offset:
        ds.TimezoneOffsetFromUTC = offset
    # Patient: the archive ID only; type 2 attributes present and empty.
    ds.PatientName = ""
    ds.PatientID = facts.patient_id
    if options.issuer:
        ds.IssuerOfPatientID = _text(options.issuer, 64)
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    # General Study: one per patient and ingest.
    start = facts.study_start or facts.captured_at
    ds.StudyInstanceUID = study_uid(root, facts.patient_id, facts.ingest_id)
    ds.StudyDate = _da(start)
    ds.StudyTime = _tm(start)
    ds.ReferringPhysicianName = ""
    ds.StudyID = facts.ingest_id[:16]  # the ingest (SH: 16 characters), e.g. its start time
    ds.AccessionNumber = ""
    ds.StudyDescription = "Clinical photographs"
    # General Series: one per camera within the study.
    ds.Modality = "XC"
    ds.SeriesInstanceUID = series_uid(root, facts.patient_id, facts.ingest_id, make, model)
    ds.SeriesNumber = facts.series_number
    side = laterality(facts.site)
    region = anatomic_region(facts.site)
    if side is None and (region is None or region.CodeValue not in UNPAIRED):
        ds.Laterality = ""  # type 2C: the side, if any, is not known
    # General Equipment
    ds.Manufacturer = _text(make, 64)
    if model:
        ds.ManufacturerModelName = _text(model, 64)
    ds.SoftwareVersions = f"cardingest {__version__}"
    # General Image, VL Image, Acquisition Context
    ds.InstanceNumber = facts.instance_number
    ds.PatientOrientation = ""
    if side is not None:
        ds.ImageLaterality = side
    # A turned (or recoded) frame is derived from the camera's, as its description says.
    ds.ImageType = ["DERIVED" if frame.transform else "ORIGINAL", "PRIMARY"]
    ds.ContentDate = _da(facts.captured_at)
    ds.ContentTime = _tm(facts.captured_at, facts.subsec)
    ds.AcquisitionDateTime = _da(facts.captured_at) + _tm(facts.captured_at, facts.subsec)
    ds.AcquisitionContextSequence = []
    if region is not None:
        ds.AnatomicRegionSequence = [region]
    if facts.site:
        ds.ImageComments = _long_text(f"Body site: {facts.site}", 10240)
    if frame.transform:
        ds.DerivationDescription = _long_text(
            f"Turned upright losslessly ({frame.transform}) from the camera's JPEG,"
            f" sha256 {facts.sha256.lower()}",
            1024,
        )
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    uncompressed = info.rows * info.columns * info.components
    ds.LossyImageCompressionRatio = f"{uncompressed / max(1, len(frame.data)):.4f}"[:16]
    # Image Pixel
    ds.SamplesPerPixel = info.components
    ds.PhotometricInterpretation = info.photometric
    if info.components > 1:
        ds.PlanarConfiguration = 0
    ds.Rows = info.rows
    ds.Columns = info.columns
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    # encapsulate() pads an odd-length frame with one 0x00 after the JPEG's end marker.
    ds.PixelData = encapsulate([frame.data])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


def part10_bytes(ds: Dataset) -> bytes:
    """The dataset as a DICOM Part 10 file (preamble, file meta, explicit VR little endian)."""
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
