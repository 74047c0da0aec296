"""The claiming gate's hand-offs, pinned where a mutant changed them unseen.

Written for the mutation round on ``archive/claims`` (docs/testing.md). Its PostgreSQL tests
(``test_pg_claims.py``) run ingests in subprocesses, which mutmut does not see; the one test
of the gate on its own checked what it held, not what it passed on. Here the gate is given a
real plan (`make_plan`) and a record of every call it makes: which card file and content it
hands the ingest's own gate, which archive path it claims for which patient and whether the
claim is checked, and which planned paths it reports held (the folders their temporary files
made are removed by those paths at the end of the run). No database is needed: the claims'
database side is ``test_pg_claims.py``'s.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from factories import media

from cardingest.archive.claims import ClaimingGate, guarded
from cardingest.models import IdMap, MapRow, PlanItem
from cardingest.plan.planner import make_plan
from cardingest.storage.transfer import Held

PATIENT_A, PATIENT_B = "JBX3656", "MCJ1984"
CARD = Path("/card")


class Claims:
    """The database's part, in memory: content -> the patient it is filed under; every
    claim asked is recorded in full."""

    def __init__(self, owners: dict[str, str]) -> None:
        self.owners = owners
        self.held: list[str] = []
        self.asked: list[tuple[str, str, str, bool]] = []

    def claim(self, sha256: str, patient_id: str, archive_path: str, *, check: bool) -> str | None:
        self.asked.append((sha256, patient_id, archive_path, check))
        other = self.owners.get(sha256)
        return f"under patient {other}" if check and other and other != patient_id else None


class OwnGate:
    """The ingest's own gate: this patient already has ``known``; every call is recorded."""

    def __init__(self, known: dict[str, str]) -> None:
        self.known = known
        self.calls: list[tuple[object, ...]] = []

    def claim(self, source: Path, sha256: str) -> None:
        self.calls.append(("claim", source, sha256))

    def enter(self, source: Path, sha256: str) -> str | None:
        self.calls.append(("enter", source, sha256))
        return self.known.get(sha256)

    def leave(self, source: Path, sha256: str, relpath: str | None) -> None:
        self.calls.append(("leave", source, sha256, relpath))


def planned() -> dict[Path, PlanItem]:
    """A card of one shot (JPEG, RAW, XMP) and a second photo, all for patient B."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG"),
        media("DCIM/100CANON/IMG_0001.CR2"),
        media("DCIM/100CANON/IMG_0001.XMP"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:20:00"),
    ]
    plan = make_plan(
        [replace(f, size=1000 + n) for n, f in enumerate(files)],
        IdMap(rows=(MapRow(line=0, patient_id=PATIENT_B, everything=True),)),
    )
    items = {CARD / item.source: item for item in plan.items if item.action == "copy"}
    assert len(items) == 4 and all(item.target for item in items.values())
    return items


def test_the_gate_passes_each_call_on_to_the_ingests_own_gate_unchanged() -> None:
    """`claim` and `leave` reach the ingest's own gate with the same card file, content and
    published path (that gate settles the same content twice in one run by them), and so
    does `enter`, before anything is claimed."""
    items = planned()
    own = OwnGate({})
    gate = ClaimingGate(own, Claims({}), items.get, check=True)
    second = CARD / "DCIM/100CANON/IMG_0002.JPG"
    gate.claim(second, "jpg2")
    assert gate.enter(second, "jpg2") is None
    gate.leave(second, "jpg2", f"{PATIENT_B}/x.jpg")
    assert own.calls == [
        ("claim", second, "jpg2"),
        ("enter", second, "jpg2"),
        ("leave", second, "jpg2", f"{PATIENT_B}/x.jpg"),
    ]


def test_a_claim_names_the_photos_planned_path_and_a_held_shot_lists_each_path() -> None:
    """A photo is claimed for its patient under its planned archive path (what another desk
    is told it is being filed as), checked unless it is a sidecar. A held photo and the rest
    of its shot are listed by their planned paths, the folders to tidy at the end."""
    items = planned()
    claims = Claims({"jpg1": PATIENT_A, "xmp": PATIENT_A})
    gate = ClaimingGate(OwnGate({}), claims, items.get, check=True)
    second = CARD / "DCIM/100CANON/IMG_0002.JPG"
    assert gate.enter(second, "jpg2") is None
    assert gate.enter(CARD / "DCIM/100CANON/IMG_0001.XMP", "xmp") is None  # never checked
    with pytest.raises(Held, match=f"^under patient {PATIENT_A}$"):
        gate.enter(CARD / "DCIM/100CANON/IMG_0001.JPG", "jpg1")
    with pytest.raises(Held, match=f"^under patient {PATIENT_A}$"):
        gate.enter(CARD / "DCIM/100CANON/IMG_0001.CR2", "cr2")
    target = {path.name: items[path].target for path in items}
    assert claims.asked == [
        ("jpg2", PATIENT_B, target["IMG_0002.JPG"], True),
        ("xmp", PATIENT_B, target["IMG_0001.XMP"], False),
        ("jpg1", PATIENT_B, target["IMG_0001.JPG"], True),
    ]
    assert claims.held == [target["IMG_0001.JPG"], target["IMG_0001.CR2"]]


def test_a_photo_with_no_patient_or_already_filed_is_not_claimed() -> None:
    """A file the plan gave no patient, or content this patient already has (a skip), claims
    nothing: the first would claim content for no one."""
    items = planned()
    second = CARD / "DCIM/100CANON/IMG_0002.JPG"
    items[second] = replace(items[second], row=None)
    claims = Claims({"jpg2": PATIENT_A})
    gate = ClaimingGate(OwnGate({"jpg1": f"{PATIENT_B}/y.jpg"}), claims, items.get, check=True)
    assert gate.enter(second, "jpg2") is None
    assert gate.enter(CARD / "DCIM/100CANON/IMG_0001.JPG", "jpg1") == f"{PATIENT_B}/y.jpg"
    assert gate.enter(CARD / "elsewhere.JPG", "other") is None
    assert claims.asked == [] and claims.held == []


def test_guarded_holds_another_patients_photo_unless_allowed() -> None:
    """With claims (PostgreSQL) the ingest's gate is wrapped: a photo filed under another
    patient is held, and with ``--allow-other-patient`` claimed unchecked and filed."""
    items = planned()
    first = CARD / "DCIM/100CANON/IMG_0001.JPG"
    claims = Claims({"jpg1": PATIENT_A})
    gate = guarded(OwnGate({}), claims, items.get, allow_other_patient=False)
    assert gate is not None
    with pytest.raises(Held, match=PATIENT_A):
        gate.enter(first, "jpg1")
    allowed = guarded(OwnGate({}), claims, items.get, allow_other_patient=True)
    assert allowed is not None and allowed.enter(first, "jpg1") is None
    assert [asked[3] for asked in claims.asked] == [True, False]
    assert guarded(None, claims, items.get, allow_other_patient=False) is None
