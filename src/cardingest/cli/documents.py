"""Every ``--json`` document, built in one place so that the contract scripts rely on is
read here, pinned by the golden tests (``tests/golden/``), and changed deliberately.

Builders take the core's records and return plain dicts; ``output.emit_json`` writes them.
A top-level iterator (the items of a plan or an ingest) is streamed, never held whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CardingestError
from ..models import Card, Plan, PlanItem

if TYPE_CHECKING:  # each command loads the core modules it uses; pydicom for `dicom` only
    from ..abandon import AbandonResult
    from ..archive.audit import AuditCheck
    from ..archive.auditrepair import TornTail
    from ..archive.catalogue import CatalogueRecord
    from ..archive.migrate import MigrateReport
    from ..archive.relocate import Relocation
    from ..archive.verify import Problem, VerifyReport
    from ..clinic.share import ShareItem, ShareResult
    from ..export.photos import LeftOut
    from ..export.run import DicomResult, Done
    from ..ingest import IngestResult, Outcome
    from ..move import FileMove, MoveResult
    from ..wipe import WipeItem, WipeResult

Document = dict[str, Any]


def error(exc: CardingestError) -> Document:
    return {"error": {"message": exc.message, "details": exc.details, "exit": exc.exit_code}}


def card(found: Card | None) -> Document | None:
    return asdict(found) if found else None


def cards(found: Iterable[Card]) -> Document:
    return {"cards": [card(one) for one in found]}


def item(planned: PlanItem) -> Document:
    document: Document = {
        "source": planned.source,
        "id": planned.patient_id,
        "captured_at": planned.captured_at.isoformat(timespec="seconds"),
        "time_source": planned.time_source,
        "target": planned.target,
        "action": planned.action,
        "reason": planned.reason,
        "size": planned.size,
        "role": planned.role,
        "slate": planned.slate,
    }
    if planned.captured_raw != planned.captured_at:
        document["captured_raw"] = planned.captured_raw.isoformat(timespec="seconds")
    if planned.subsec:
        document["subsec"] = planned.subsec
    if planned.utc_offset:
        document["utc_offset"] = planned.utc_offset
    if planned.diagnosis or planned.site or planned.consent:
        document["diagnosis"] = list(planned.diagnosis)
        document["site"] = planned.site
        document["consent"] = planned.consent
    if planned.warning:
        document["warning"] = planned.warning
    if planned.repair:
        document["repair"] = True
    return document


def offset_text(offset: timedelta) -> str:
    """``-00:02:30``, never Python's ``-1 day, 23:57:30``."""
    from ..plan.naming import format_clock_offset

    return format_clock_offset(offset)


def plan(planned: Plan, on: Card | None) -> Document:
    """``preview --json`` (and ``ingest --dry-run --json``)."""
    return {
        "source": planned.source,
        "archive": planned.archive,
        "card": card(on),
        "clock_offset": _offset(planned),
        "summary": {**planned.counts, "bytes_to_copy": planned.bytes_to_copy},
        "items": (item(one) for one in planned.items),
        "patients": [
            {
                "id": tally.patient_id,
                "to_copy": tally.to_copy,
                "archived_before": tally.archived_before,
                "last_taken": tally.last_taken.isoformat() if tally.last_taken else None,
            }
            for tally in planned.patients
        ],
        "warnings": list(planned.warnings),
    }


def outcome(done: Outcome) -> Document:
    entry = item(done.item)
    entry["action"] = done.action
    entry["target"] = done.target
    if done.sha256:
        entry["sha256"] = done.sha256
    if done.backup_target:
        entry["backup"] = done.backup_target
    if done.error or done.reason:
        entry["reason"] = done.error or done.reason
    return entry


def _offset(planned: Plan) -> str | None:
    return offset_text(planned.clock_offset) if planned.clock_offset else None


def ingest(result: IngestResult, on: Card | None) -> Document:
    """``ingest --json``; a ``wipe`` entry is added by ``ingest --wipe``."""
    return {
        "ingest_id": result.ingest_id,
        "source": result.plan.source,
        "archive": result.plan.archive,
        "card": card(on),
        "clock_offset": _offset(result.plan),
        "summary": {
            **result.counts,
            "bytes": result.bytes_copied,
            "seconds": round(result.seconds, 3),
            "manifest": _path(result.manifest),
            "backup_manifest": _path(result.backup_manifest),
            "interrupted": result.interrupted,
        },
        "items": (outcome(one) for one in result.outcomes),
        "warnings": list(result.plan.warnings) + result.warnings,
    }


def wipe_skipped(message: str) -> Document:
    return {"skipped": message}


def wipe_error(exc: CardingestError) -> Document:
    """The wipe's part of ``ingest --wipe --json`` when it failed: `error`'s document."""
    return error(exc)


def wipe_item(decided: WipeItem) -> Document:
    return {
        "source": decided.source,
        "sha256": decided.sha256,
        "action": decided.action,
        "reason": decided.reason,
        "archive_path": decided.archive_path,
    }


def wipe(result: WipeResult) -> Document:
    return {
        "source": result.plan.source,
        "archive": result.plan.archive,
        "dry_run": result.dry_run,
        "items": [wipe_item(one) for one in result.items],
        "summary": {"removed": len(result.removed), "kept": len(result.kept)},
        "warnings": list(result.plan.warnings),
    }


def problem(found: Problem) -> Document:
    return {
        "kind": found.kind,
        "path": found.path,
        "where": found.where,
        "id": found.patient_id,
        "expected_sha256": found.expected_sha256,
        "actual_sha256": found.actual_sha256,
        "detail": found.detail,
    }


def verify(
    report: VerifyReport,
    tightened: list[str] | None = None,
    warnings: Sequence[str] = (),
    rewritten: list[str] | None = None,
    manifests: list[str] | None = None,
) -> Document:
    """``verify --json``; ``tightened`` (the paths closed) with ``--fix-permissions``,
    ``rewritten`` (the sidecars written again) with ``--fix-sidecars``, ``manifests`` (those
    written again) with ``--fix-manifests``; ``warnings``: a dead ingest's publish journal,
    say, why some copies are unexpected."""
    document: Document = {
        "archive": report.archive,
        "id": report.patient_id,
        "ok": report.ok,
        "summary": {**report.counts, "bytes": report.bytes_read},
        "problems": [problem(one) for one in report.problems],
        "warnings": list(warnings),
    }
    if tightened is not None:
        document["tightened"] = tightened
    if rewritten is not None:
        document["rewritten"] = rewritten
    if manifests is not None:
        document["manifests"] = manifests
    return document


def audit(
    log: Path | str,
    check: AuditCheck,
    *,
    repair: bool = False,
    torn: TornTail | None = None,
    head: int | None = None,
) -> Document:
    """``audit --json``; with ``--repair``, ``repaired`` is what was set aside (or null), and
    ``head_rebuilt`` the lines a missing ``audit.head`` was written again from (or null)."""
    document: Document = {
        "log": str(log),
        "ok": check.ok,
        "events": check.events,
        "bad_line": check.bad_line,
        "problem": check.problem,
    }
    if repair:
        document["repaired"] = asdict(torn) if torn is not None else None
        document["head_rebuilt"] = head
    return document


def record(archived: CatalogueRecord) -> Document:
    document = asdict(archived)
    document.pop("rowid")
    document["diagnosis"] = list(archived.diagnosis)
    return document


def search(archive: Path, records: Iterable[CatalogueRecord]) -> Document:
    return {"archive": str(archive), "results": [record(one) for one in records]}


def share(result: ShareResult) -> Document:
    """``share --json``: each photo written (with its pixel size), skipped or failed. An
    anonymous share's document holds no patient ID (no ``id``, no archive paths, which
    carry it): a script may keep it beside the copies. The audit log links the token back."""
    plan = result.plan
    named = not plan.anonymous

    def which(item: ShareItem) -> Document:
        return {"source": item.record.archive_path} if named else {}

    def why(reason: str) -> str:
        return reason if named else reason.replace(plan.patient_id, "[ID]")

    return {
        "archive": str(plan.archive),
        "id": plan.patient_id if named else None,
        "token": None if named else plan.label,
        "size": plan.size,
        "out": str(plan.out_dir.absolute()),
        "summary": {
            "written": len(result.written),
            "skipped": len(result.skipped),
            "failed": len(result.failed),
        },
        "items": [
            {**which(item), "action": "written", "name": item.name, "width": w, "height": h}
            for item, (w, h) in result.written
        ]
        + [
            {**which(item), "action": action, "name": item.name, "reason": why(reason)}
            for action, done in (("skipped", result.skipped), ("failed", result.failed))
            for item, reason in done
        ],
    }


def _left_out(item: LeftOut, action: str) -> Document:
    return {
        "id": item.patient_id,
        "path": item.archive_path,
        "action": action,
        "reason": item.reason,
    }


def _done(item: Done, action: str) -> Document:
    entry: Document = {
        "id": item.patient_id,
        "path": item.archive_path,
        "action": action,
        "sop_instance_uid": item.sop_instance_uid,
    }
    if item.target:
        entry["file"] = item.target
    if item.transform:
        entry["transform"] = item.transform
    if item.note:
        entry["note"] = item.note
    return entry


def dicom_export(
    archive: Path, out: Path, result: DicomResult, strays: Sequence[Path] = ()
) -> Document:
    """``dicom export --json``; ``not_theirs``: files in a patient's folder of OUT that are
    no photo of that patient now."""
    return {
        "archive": str(archive),
        "out": str(out),
        "not_theirs": [str(path) for path in strays],
        "summary": {
            "written": len(result.done),
            "unchanged": len(result.already),
            "failed": len(result.failed),
            "left_out": len(result.left_out),
        },
        "items": [_done(d, "written") for d in result.done]
        + [_done(d, "unchanged") for d in result.already]
        + [_left_out(f, "failed") for f in result.failed]
        + [_left_out(f, "left-out") for f in result.left_out],
    }


def dicom_send(result: DicomResult) -> Document:
    """``dicom send --json`` (after the archive) and the ``dicom_send`` of ``ingest --send``."""
    return {
        "destination": result.destination,
        "summary": {
            "sent": len(result.done),
            "already_sent": len(result.already),
            "failed": len(result.failed),
            "left_out": len(result.left_out),
            "not_sent": len(result.not_sent),
        },
        "stopped": result.stopped,
        "items": [_done(d, "sent") for d in result.done]
        + [_done(d, "already-sent") for d in result.already]
        + [_left_out(f, "failed") for f in result.failed]
        + [_left_out(f, "left-out") for f in result.left_out]
        + [
            {
                "id": result.patient_of.get(path),
                "path": path,
                "action": "not-sent",
                "reason": "not confirmed by the PACS",
            }
            for path in result.not_sent
        ],
    }


def _file_move(item: FileMove) -> Document:
    return {
        "from": item.patient_from,
        "old": item.old,
        "new": item.new,
        "sha256": item.sha256,
        "old_backup": item.old_backup,
        "new_backup": item.new_backup,
    }


def move(archive: Path, result: MoveResult, warnings: list[str]) -> Document:
    """``move --json``."""
    return {
        "archive": str(archive),
        "to": result.to,
        "move_id": result.move_id,
        "resumed": result.resumed,
        "moved": [_file_move(item) for item in result.moved],
        "sidecars": [{"old": a, "new": b} for a, b in result.sidecars],
        "already": [{"path": a, "now": b} for a, b in result.already],
        "earlier_moves": result.earlier,
        "kept": [{"path": path, "reason": why} for path, why in result.kept],
        "at_pacs": [{"path": path, "destinations": at} for path, at in result.at_pacs.items()],
        "warnings": warnings,
    }


def abandoned(archive: Path, result: AbandonResult) -> Document:
    """``move --abandon-journal --json``."""
    return {
        "archive": str(archive),
        "move_id": result.move_id,
        "refused": result.refused,
        "journal": result.journal,
        "removed": [{"path": path, "same_as": same} for path, same in result.removed],
        "restored": [{"path": path, "to": to} for path, to in result.restored],
        "kept": [{"path": path, "reason": why} for path, why in result.kept],
        "refiled": result.refiled,
        "manifests": result.manifests,
    }


def _path(path: Path | None) -> str | None:
    return str(path) if path else None


def migrate(report: MigrateReport) -> Document:
    return {
        "archive": report.archive,
        "to": report.to,
        "archive_id": report.archive_id,
        "counts": dict(report.counts),
        "audit_events": report.audit_events,
        "copied": report.copied,
    }


def backup_moved(report: Relocation, config_names_old: bool) -> Document:
    return {
        "old": report.old,
        "new": report.new,
        "moved": report.moved,
        "photos": report.photos,
        "ingests": report.ingests,
        "bytes": report.bytes,
        "mismatches": [
            {
                "archive_path": m.archive_path,
                "path": m.path,
                "status": m.status,
                "detail": m.detail,
            }
            for m in report.mismatches
        ],
        "already": report.already,
        "same_disk": report.same_disk,
        "config_names_old": config_names_old,
    }
