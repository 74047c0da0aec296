"""Which archived photos become DICOM instances, and each one's dataset.

Only JPEG photos are sent: HEIC and RAW are left out with a reason each (PACS viewers show
JPEG), sidecars and slates are passed over. Each photo is read from the archive and its
sha256 checked against the catalogue first: a copy that changed since it was archived is
never sent under the patient's ID.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from pydicom.dataset import Dataset

from ..archive.catalogue import Catalogue, CatalogueRecord
from ..archive.verify import DamagedCopy, read_copy
from ..card.capture import cut_short
from ..card.kinds import SIDECAR_EXTENSIONS
from .dicom import DicomOptions, PhotoFacts, build_dataset, instance_uid
from .jpeg import image_end, jpeg_info
from .rotate import NotSendable, upright_frame

JPEG_EXTENSIONS = frozenset({"jpg", "jpeg"})
HEIF_EXTENSIONS = frozenset({"heic", "heif", "hif", "avif"})
NOT_WHOLE = (
    "not sendable: the JPEG is cut short (it ends before its end-of-image marker), so a "
    "viewer would show it broken or not at all: look at the archived photo"
)


@dataclass(frozen=True)
class LeftOut:
    """An archived photo that is not exported or sent, and why."""

    patient_id: str
    archive_path: str
    reason: str


@dataclass(frozen=True)
class Broken(LeftOut):
    """An archived copy that cannot be read or no longer matches its checksum: a failure."""


@dataclass(frozen=True)
class Instance:
    """One photo as a DICOM instance, ready to write or send."""

    record: CatalogueRecord
    sop_instance_uid: str
    dataset: Dataset
    frame_sha256: str
    transform: str | None
    note: str | None


_TIME_NOTES = {
    "mtime": "it has no camera time: its DICOM date and time are its file's (when it was saved "
    "on the card, as in its name), not the shutter's",
    "exif:DateTime": "its time is when it was last saved (EXIF DateTime), not always when it "
    "was taken",
}
"""Said of a photo sent with a time that may not be its shutter's, as at its ingest: a trial's
went to the PACS with no word, dated two years after the rest of its study."""


@dataclass(frozen=True)
class Selection:
    photos: tuple[CatalogueRecord, ...]
    left_out: tuple[LeftOut, ...]


def _extension(archive_path: str) -> str:
    name = archive_path.rpartition("/")[2]
    return name.rpartition(".")[2].lower() if "." in name else ""


def select_photos(
    catalogue: Catalogue,
    *,
    patient_ids: Sequence[str | None],
    date_from: date | None,
    date_to: date | None,
) -> Selection:
    """The JPEG photos of these patients (None: everyone) matching the dates, in capture
    order per patient; the other photos, with why."""
    photos: list[CatalogueRecord] = []
    left_out: list[LeftOut] = []
    records = [
        record
        for patient_id in patient_ids
        for record in catalogue.search(patient_id=patient_id, date_from=date_from, date_to=date_to)
    ]
    for record in records:
        ext = _extension(record.archive_path)
        if ext in SIDECAR_EXTENSIONS or record.role == "slate":
            continue
        if ext in JPEG_EXTENSIONS:
            photos.append(record)
            continue
        kind = "HEIC/HEIF" if ext in HEIF_EXTENSIONS else (ext.upper() or "this file")
        left_out.append(
            LeftOut(
                record.patient_id,
                record.archive_path,
                f"{kind} is not sent: only JPEG photos go to the PACS unchanged",
            )
        )
    return Selection(tuple(photos), tuple(left_out))


@dataclass(frozen=True)
class StudyContext:
    """Per (patient, ingest): the study's start and each photo's instance number."""

    start: datetime
    numbers: dict[str, int]
    series: dict[tuple[str, str], int]
    """Series Number per camera (make, model), in the order each camera first appears."""


def study_context(catalogue: Catalogue, patient_id: str, ingest_id: str) -> StudyContext:
    """From every photo of that patient in that ingest, whatever the filters, so a photo's
    Study date and Instance Number are the same in every export."""
    records = [
        r
        for r in catalogue.records(patient_id, ingest_id=ingest_id)
        if _extension(r.archive_path) not in SIDECAR_EXTENSIONS
    ]
    records.sort(key=lambda r: (r.captured_at, r.subsec, r.archive_path))
    start = min(datetime.fromisoformat(r.captured_at) for r in records)
    series: dict[tuple[str, str], int] = {}
    for r in records:
        series.setdefault((r.make or "", r.model or ""), len(series) + 1)
    return StudyContext(start, {r.archive_path: n for n, r in enumerate(records, 1)}, series)


class Builder:
    """Builds instances, caching each study's context."""

    def __init__(self, archive: Path, catalogue: Catalogue, options: DicomOptions) -> None:
        self.archive = archive
        self.catalogue = catalogue
        self.options = options
        self._studies: dict[tuple[str, str], StudyContext] = {}

    def uid(self, record: CatalogueRecord) -> str:
        return str(instance_uid(self.options.uid_root, record.patient_id, record.sha256))

    def build(self, record: CatalogueRecord) -> Instance | LeftOut:
        """The instance of one archived JPEG, or why it cannot be made."""
        try:
            data = read_copy(self.archive, record)
        except OSError as exc:
            return Broken(
                record.patient_id,
                record.archive_path,
                f"cannot read the archived copy: {exc.strerror or exc}",
            )
        except DamagedCopy as exc:
            return Broken(
                record.patient_id,
                record.archive_path,
                f"{exc}: left out; run `cardingest verify`",
            )
        if cut_short(io.BytesIO(data)):
            return LeftOut(record.patient_id, record.archive_path, NOT_WHOLE)
        try:
            end = image_end(data)
            photo = data[:end]
            frame = upright_frame(photo, jpeg_info(photo))
        except (ValueError, NotSendable) as exc:
            return LeftOut(record.patient_id, record.archive_path, f"not sendable: {exc}")
        if end < len(data) and frame.note is None:
            frame = replace(frame, note=f"{len(data) - end:,} bytes after the photo's end "
                            "(a phone's motion video, or other data) are left out")  # fmt: skip
        key = (record.patient_id, record.ingest_id)
        if key not in self._studies:
            self._studies[key] = study_context(self.catalogue, *key)
        study = self._studies[key]
        facts = PhotoFacts(
            patient_id=record.patient_id,
            sha256=record.sha256,
            ingest_id=record.ingest_id,
            captured_at=datetime.fromisoformat(record.captured_at),
            subsec=record.subsec,
            utc_offset=record.utc_offset,
            make=record.make,
            model=record.model,
            site=record.site,
            instance_number=study.numbers.get(record.archive_path, 1),
            series_number=study.series.get((record.make or "", record.model or ""), 1),
            study_start=study.start,
        )
        dataset = build_dataset(facts, frame, self.options)
        notes = (frame.note, _TIME_NOTES.get(record.time_source))
        return Instance(
            record=record,
            sop_instance_uid=str(dataset.SOPInstanceUID),
            dataset=dataset,
            frame_sha256=hashlib.sha256(frame.data).hexdigest(),
            transform=frame.transform,
            note="; ".join(note for note in notes if note) or None,
        )

    def each(self, records: tuple[CatalogueRecord, ...]) -> Iterator[Instance | LeftOut]:
        for record in records:
            yield self.build(record)
