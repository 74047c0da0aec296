"""The two DICOM jobs: write Part 10 files to a folder, and send to a PACS.

Both read the catalogue, build each instance from the archived file (checked against its
sha256 first) and record what they did in the audit log. A send records each photo in the
catalogue only once the PACS has confirmed it, one at a time, so a run stopped at any point
(PACS down, Ctrl-C, kill) leaves exactly the confirmed photos marked sent; the next run sends
the rest.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..archive.audit import AuditLog
from ..archive.catalogue import Catalogue, CatalogueRecord
from ..archive.provenance import recorded_folder
from ..errors import (
    WHEN_PACS_ANSWERS,
    CardingestError,
    CatalogueError,
    Interrupted,
    PacsError,
    UsageError,
)
from ..ids import SAFE_ID
from ..storage import modes
from ..storage.durable import remove_dead_temps_in, write_new
from ..storage.links import leaves_root
from .dicom import part10_bytes
from .pacs import Client, NotFound, Refused
from .photos import Broken, Builder, Instance, LeftOut, Selection
from .settings import PacsConfig


@dataclass(frozen=True)
class Done:
    """One photo exported or sent."""

    patient_id: str
    archive_path: str
    sop_instance_uid: str
    target: str | None = None
    transform: str | None = None
    note: str | None = None


@dataclass
class DicomResult:
    """What an export or a send did, photo by photo."""

    done: list[Done] = field(default_factory=list)
    already: list[Done] = field(default_factory=list)
    failed: list[LeftOut] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)
    not_sent: list[str] = field(default_factory=list)
    patient_of: dict[str, str] = field(default_factory=dict)
    """The patient ID of each photo a send set out to send (those ``not_sent`` among them)."""
    stopped: str | None = None
    retry: str = WHEN_PACS_ANSWERS
    """When to send the rest again, once ``stopped``."""
    destination: str | None = None
    again: str = "cardingest dicom send"
    """The command that sends the rest (``--force`` kept, or a plain send sends none)."""
    out_dir: Path | None = None
    warnings: list[str] = field(default_factory=list)
    """Patients' folders of an export's ``--out`` closed to other accounts."""

    @property
    def notes(self) -> list[Done]:
        return [d for d in self.done if d.note]

    def counts(self) -> dict[str, int]:
        return {
            "done": len(self.done),
            "already": len(self.already),
            "failed": len(self.failed),
            "left_out": len(self.left_out),
            "not_sent": len(self.not_sent),
        }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _write_new(path: Path, data: bytes) -> bool:
    """Write ``path`` durably unless it exists. True when written, False when the same bytes
    are already there; raises FileExistsError when other bytes are. An empty file there is
    what an export killed as it named the file leaves on a drive with neither hard links
    nor a rename that never replaces (fusefat, exfat-fuse: `durable.is_placeholder`): it
    holds nothing, and is written over."""
    try:
        existing: bytes | None = path.read_bytes()
    except FileNotFoundError:
        existing = None
    if existing == data:
        return False
    if existing:
        raise FileExistsError(
            f"{path} exists with other content (an export from before this photo's site or "
            "the config's DICOM settings changed, or another file): it is not this photo as "
            "archived now. Not overwriting it: remove it before the folder goes out, or "
            "export into a new --out"
        )
    modes.make_dirs(path.parent)
    try:
        write_new(path.parent, path.name, data, over_empty=True)
    except FileExistsError:
        raise FileExistsError(f"{path} appeared while writing; not overwriting it") from None
    return True


def _dcm_name(record: CatalogueRecord) -> str:
    """The name of a photo's file in ``OUT/ID``: its archive name's stem, ``.dcm``."""
    return record.archive_path.rpartition("/")[2].rpartition(".")[0] + ".dcm"


def not_theirs(catalogue: Catalogue, out_dir: Path, patient_ids: set[str]) -> list[Path]:
    """The DICOM files in ``OUT/ID`` that are no photo filed under ID now: exported before
    and moved to another patient since (the move gives it another name), so a CD burnt from
    the folder would carry it under the wrong patient. ``patient_ids`` empty: every folder
    of OUT named as an ID (the patient may have no photo left at all)."""
    if not patient_ids:
        with contextlib.suppress(OSError):
            patient_ids = {
                entry.name
                for entry in os.scandir(out_dir)
                if SAFE_ID.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
            }
    found: list[Path] = []
    for patient_id in sorted(patient_ids):
        names = {_dcm_name(record) for record in catalogue.records(patient_id)}
        found += [p for p in sorted((out_dir / patient_id).glob("*.dcm")) if p.name not in names]
    return found


def export_files(
    archive: Path,
    builder: Builder,
    selection: Selection,
    out_dir: Path,
    *,
    operator: str,
    on_item: Callable[[Instance | LeftOut], None] | None = None,
) -> DicomResult:
    """One ``OUT/ID/NAME.dcm`` per photo; an identical file already there is left as it is.

    First the temporaries a killed export left in the folders this one writes are removed
    (not those of an export writing there now), so none goes onto the CD or stick.
    """
    result = DicomResult(left_out=list(selection.left_out), out_dir=out_dir)
    patient_ids = sorted({record.patient_id for record in selection.photos})
    for patient_id in patient_ids:
        left = leaves_root(out_dir, (patient_id,))
        if left is not None:  # made there by someone else: the files would go where it leads
            raise UsageError(
                f"Not exporting: {left[0]} {left[1].replace(' in the archive', '')}, not a "
                f"folder of --out {out_dir}: the patient's files would be written where it "
                "leads. Remove it, or give another --out; nothing was written"
            )
        modes.refuse_others_folder(out_dir / patient_id, "The patient's folder")
    new_folders = [out_dir / p for p in patient_ids if not os.path.lexists(out_dir / p)]
    try:
        for patient_id in patient_ids:
            closed = modes.make_private_subfolder(out_dir / patient_id, "The patient's folder")
            if closed is not None:
                result.warnings.append(closed)
    except BaseException:
        _remove_empty(new_folders)
        raise
    remove_dead_temps_in([out_dir / patient_id for patient_id in patient_ids])
    try:
        for item in builder.each(selection.photos):
            if on_item:
                on_item(item)
            if isinstance(item, LeftOut):
                (result.failed if isinstance(item, Broken) else result.left_out).append(item)
                continue
            record = item.record
            target = out_dir / record.patient_id / _dcm_name(record)
            done = Done(
                record.patient_id,
                record.archive_path,
                item.sop_instance_uid,
                str(target),
                item.transform,
                item.note,
            )
            try:
                written = _write_new(target, part10_bytes(item.dataset))
            except OSError as exc:
                reason = str(exc) if isinstance(exc, FileExistsError) else (exc.strerror or "")
                result.failed.append(
                    LeftOut(record.patient_id, record.archive_path, f"cannot write: {reason}")
                )
                continue
            (result.done if written else result.already).append(done)
    finally:
        _remove_empty(new_folders)  # a patient whose photos were all left out: none made
        AuditLog(archive).append(
            "dicom-export",
            operator=operator,
            out=recorded_folder(os.path.abspath(out_dir)),
            counts=result.counts(),
            files=[
                {"path": d.archive_path, "sop_instance_uid": d.sop_instance_uid}
                for d in result.done
            ],
            failed=[{"path": f.archive_path, "reason": f.reason} for f in result.failed],
        )
    return result


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def send_photos(
    archive: Path,
    catalogue: Catalogue,
    builder: Builder,
    selection: Selection,
    config: PacsConfig,
    client: Client,
    *,
    force: bool,
    operator: str,
    on_item: Callable[[Done | LeftOut], None] | None = None,
) -> DicomResult:
    """Send what is not yet confirmed at this PACS (everything with ``force``). A photo
    confirmed under another patient ID (moved since: its instance UID, made from the ID,
    differs; so does a changed ``dicom_uid_root``) is not "sent": it is sent under its
    patient now, with a note about the instance left at the PACS.

    A PACS that is down or stops answering ends the run (``stopped``); the photos not
    confirmed by then are listed in ``not_sent`` and stay unsent in the catalogue.
    """
    destination = config.destination
    result = DicomResult(left_out=list(selection.left_out), destination=destination)
    if force:
        result.again = "cardingest dicom send --force"
    sent = catalogue.dicom_sent(destination)
    todo = []
    elsewhere: dict[str, str] = {}
    for record in selection.photos:
        before = sent.get(record.archive_path)
        if before is not None and before != builder.uid(record):
            elsewhere[record.archive_path] = before  # sent under another patient, then moved
        if before is not None and not force and record.archive_path not in elsewhere:
            result.already.append(Done(record.patient_id, record.archive_path, before))
        else:
            todo.append(record)
    if not todo:
        return result
    remaining = [r.archive_path for r in todo]
    result.patient_of = {r.archive_path: r.patient_id for r in todo}
    lost: CatalogueError | None = None
    try:
        with client:
            for record in todo:
                item = builder.build(record)
                if isinstance(item, LeftOut):
                    (result.failed if isinstance(item, Broken) else result.left_out).append(item)
                    remaining.remove(record.archive_path)
                    if on_item:
                        on_item(item)
                    continue
                try:
                    confirmed_by = client.store(item.dataset)
                except Refused as exc:
                    if isinstance(exc, NotFound) and record.archive_path in sent:
                        catalogue.record_dicom_missing(  # a plain send must not say "sent"
                            record.archive_path,
                            destination=destination,
                            checked_at=_now(),
                            why=str(exc),
                        )
                    failed = LeftOut(record.patient_id, record.archive_path, str(exc))
                    result.failed.append(failed)
                    remaining.remove(record.archive_path)
                    if on_item:
                        on_item(failed)
                    continue
                catalogue.record_dicom_send(
                    record.archive_path,
                    destination=destination,
                    sop_instance_uid=item.sop_instance_uid,
                    sent_at=_now(),
                    frame_sha256=item.frame_sha256,
                    transform=item.transform,
                    confirmed_by=confirmed_by,
                )
                remaining.remove(record.archive_path)
                note = item.note
                if record.archive_path in elsewhere:
                    moved = (
                        f"sent before as instance {elsewhere[record.archive_path]}, under "
                        "another patient ID (a `move` since) or another `dicom_uid_root`; "
                        "that instance is still at this PACS: if it is under the wrong "
                        "patient, have it removed there"
                    )
                    note = f"{note}; {moved}" if note else moved
                elif record.archive_path in sent:  # --force: the same instance again
                    kept = (
                        "sent again under the instance UID the PACS holds: most PACS keep an "
                        "instance as they first stored it, so a site changed since does not "
                        "reach it (have it corrected at the PACS)"
                    )
                    note = f"{note}; {kept}" if note else kept
                done = Done(
                    record.patient_id,
                    record.archive_path,
                    item.sop_instance_uid,
                    None,
                    item.transform,
                    note,
                )
                result.done.append(done)
                if on_item:
                    on_item(done)
    except PacsError as exc:
        result.stopped, result.retry = exc.message, exc.retry
    except CatalogueError as exc:
        lost = exc
        exc.stopped_midway(_sent_before_loss(result, remaining))
        raise
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM, SIGHUP: how far it got, from the records
        raise Interrupted(
            f"Interrupted: {len(result.done)} photo(s) were sent, confirmed by the PACS and "
            f"recorded; {len(remaining)} were not (one on its way may be at the PACS: sent "
            f"again, it goes under the same instance UID). Run `{result.again}` again to send "
            "them."
        ) from None
    finally:
        result.not_sent = remaining
        with _audit_kept(lost, result, remaining):
            _audit_send(archive, operator, destination, result, remaining)
    return result


def _sent_before_loss(result: DicomResult, remaining: list[str]) -> str:
    rest = (
        f"run `{result.again}` again when the catalogue answers: it sends the "
        f"{len(remaining)} not recorded (one sent but not yet recorded goes again, under the "
        "same instance UID, so the PACS keeps one copy)"
        if remaining
        else "none is left to send"
    )
    return (
        f"{len(result.done)} photo(s) were sent, confirmed and recorded before the catalogue "
        f"was lost; {rest}. The audit log may lack this send's event: the catalogue's record "
        "of each send shows what went."
    )


@contextlib.contextmanager
def _audit_kept(
    lost: CatalogueError | None, result: DicomResult, remaining: list[str]
) -> Iterator[None]:
    """The send's audit event: its failure passed over while ``lost`` is already on its way
    to the user (the audit log in a catalogue that is gone fails too); met alone (the
    catalogue lost after the last photo), it says what was sent, not "Nothing was … changed"
    (the photos are at the PACS)."""
    try:
        yield
    except CardingestError as exc:
        if lost is None:
            exc.stopped_midway(_sent_before_loss(result, remaining))
            raise


def _audit_send(
    archive: Path, operator: str, destination: str, result: DicomResult, remaining: list[str]
) -> None:
    AuditLog(archive).append(
        "dicom-send",
        operator=operator,
        destination=destination,
        counts=result.counts(),
        sent=[
            {
                "path": d.archive_path,
                "id": d.patient_id,
                "sop_instance_uid": d.sop_instance_uid,
                "transform": d.transform,
            }
            for d in result.done
        ],
        failed=[{"path": f.archive_path, "reason": f.reason} for f in result.failed],
        not_sent=remaining,
        stopped=result.stopped,
    )
