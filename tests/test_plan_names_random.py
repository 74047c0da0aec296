"""Names the planner hands out, checked on random cards against rules that do not depend on
how it finds them: no two files get one target, no two shots share a base name, and nothing
new lands on a name the archive already holds.

The cards mix shots of one second, RAW twins and sidecars, stems that differ only in case,
several patients, clock offsets, coarse templates (one name for a whole day), a folder
template without ``{id}`` (which the config refuses, so two patients share a folder), and an
archive that already holds some of the names.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from cardingest.errors import MapError
from cardingest.models import ArchiveState, MediaFile, Plan
from cardingest.plan.idmap import parse_map_text, single_id_map
from cardingest.plan.planner import make_plan

START = datetime(2026, 11, 24, 9, 15, 0)
TEMPLATES = [
    ("{id}", "{id}-{date}-{time}"),
    ("{id}", "{id}-{date}"),
    ("{id}/{year}", "{hour}{minute}"),
    ("shared", "{date}-{time}"),
    ("shared", "{date}"),
    ("{date}", "{time}"),
]
TWO = parse_map_text(
    "from,to,id\n2026-11-24 09:00,2026-11-24 09:15:01,JBX3656\n"
    "2026-11-24 09:15:02,2026-11-24 11:00,ACA31FM\n"
)


def card(rng: random.Random) -> list[MediaFile]:
    files: dict[str, MediaFile] = {}
    for _ in range(rng.randint(1, 25)):
        folder = rng.choice(["DCIM/100CANON", "DCIM/101CANON"])
        stem = rng.choice(["IMG_", "img_", "DSC_"]) + f"{rng.randint(1, 5):04d}"
        when = START + timedelta(seconds=rng.choice([0, 0, 1, 2, 3, 60]))
        for ext in rng.choice([["JPG"], ["JPG", "CR2"], ["jpeg"], ["JPG", "XMP"], ["CR2", "THM"]]):
            path = f"{folder}/{stem}.{ext}"
            files[path] = MediaFile(
                path,
                rng.randint(1, 9999),
                when,
                "exif:DateTimeOriginal",
                subsec=rng.choice(["", "", "5", "50"]),
                sidecar=ext in ("XMP", "THM"),
            )
    return sorted(files.values(), key=lambda m: m.path)


def taken_names(rng: random.Random, plan: Plan) -> frozenset[str]:
    """Some of the targets a first plan gave, and names next to them, as if archived."""
    targets = [item.target for item in plan.items if item.target]
    chosen = rng.sample(targets, k=len(targets) // 2)
    more = [t.replace(".", "-2.", 1) if rng.random() < 0.5 else t for t in chosen]
    return frozenset(more)


def base_of(target: str) -> str:
    folder, _, name = target.rpartition("/")
    return f"{folder}/{name.rpartition('.')[0] or name}"


def check(plan: Plan, taken: frozenset[str]) -> None:
    copies = [item for item in plan.items if item.action == "copy" and not item.repair]
    targets = [item.target for item in copies]
    assert len(set(targets)) == len(targets), "two files given one target"
    assert not set(targets) & taken, "a new file given a name the archive holds"
    shots: dict[str, set[tuple[str, str]]] = {}
    extensions: dict[str, list[str]] = {}
    for item in copies:
        assert item.target is not None
        base = base_of(item.target)
        folder, _, name = item.source.rpartition("/")
        stem, _, extension = name.rpartition(".")
        shots.setdefault(base, set()).add((folder, stem.upper()))
        kind = "jpg" if extension.lower() == "jpeg" else extension.lower()
        extensions.setdefault(base, []).append(kind)
    for base, owners in shots.items():
        assert len(owners) == 1, f"{base} shared by the shots of {sorted(owners)}"
        assert len(set(extensions[base])) == len(extensions[base]), f"{base}: two shots"


@pytest.mark.parametrize("seed", range(300))
def test_no_two_shots_share_a_name_on_a_random_card(seed: int) -> None:
    rng = random.Random(seed)
    files = card(rng)
    folder_template, name_template = rng.choice(TEMPLATES)
    idmap = TWO if rng.random() < 0.5 else single_id_map("JBX3656")
    offset = rng.choice([timedelta(0), timedelta(seconds=-1)])

    def plan(taken: frozenset[str]) -> Plan:
        return make_plan(
            files,
            idmap,
            state=ArchiveState(taken_paths=taken),
            folder_template=folder_template,
            name_template=name_template,
            clock_offset=offset,
        )

    try:
        first = plan(frozenset())
    except MapError:
        return  # a range the random card left empty: refused, nothing planned
    check(first, frozenset())
    taken = taken_names(rng, first)
    check(plan(taken), taken)
