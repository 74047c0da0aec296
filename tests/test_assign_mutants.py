"""Interactive assignment's survivors of a mutation round (docs/testing.md, "A mutation round
on the slates and interactive assignment"): what a group says of itself, the question asked
for it, and the map its answers make, in full, where a changed line of `plan/assign.py` went
unnoticed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import media

from cardingest.errors import UsageError
from cardingest.plan.assign import ask_ids, build_idmap, make_groups

GAP = timedelta(minutes=5)


def test_a_groups_times_are_shown_with_the_clock_offset_added() -> None:
    """The times a person reads to write a map's ``from``/``to`` are compared with the
    camera's times plus ``--clock-offset``: the question must show them so too."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:03:00"),
    ]
    [group] = make_groups(files, GAP, timedelta(hours=1, seconds=30))
    assert group.describe() == (
        "Group 1: 2 photo(s), 2026-11-24 10:00:30 to 10:03:30, IMG_0001.JPG … IMG_0002.JPG"
    )


def test_a_name_two_folders_hold_is_shown_with_its_own_folder_as_a_map_names_it() -> None:
    """A phone's nested folders: the name is qualified by the folder it is in, the one a
    map's ``files`` names it by (`file_spec`), not by every folder from the card's top."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00"),
        media("DCIM/Camera/2026/IMG_0001.JPG", "2026-11-24 09:01:00"),
    ]
    [group] = make_groups(files, GAP)
    assert group.describe() == (
        "Group 1: 2 photo(s), 2026-11-24 09:00:00 to 09:01:00, "
        "100CANON/IMG_0001.JPG … 2026/IMG_0001.JPG"
    )


@pytest.mark.parametrize(
    ("undated", "named"),
    [
        (2, "IMG_0002.JPG, IMG_0003.JPG"),
        (3, "IMG_0002.JPG, IMG_0003.JPG, IMG_0004.JPG"),
        (4, "IMG_0002.JPG, IMG_0003.JPG, IMG_0004.JPG …"),
    ],
)
def test_the_photos_placed_by_their_file_time_are_named_the_first_three(
    undated: int, named: str
) -> None:
    files = [media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00")] + [
        media(f"DCIM/100CANON/IMG_{n:04d}.JPG", f"2026-11-24 09:0{n}:00", source="mtime")
        for n in range(2, 2 + undated)
    ]
    [group] = make_groups(files, GAP)
    last = f"IMG_{1 + undated:04d}.JPG"
    assert group.describe() == (
        f"Group 1: {1 + undated} photo(s), 2026-11-24 09:00:00 to 09:0{1 + undated}:00, "
        f"IMG_0001.JPG … {last}; {undated} of them ({named}) carry no time of taking, only "
        "of saving: placed in this group by that time, so check on the sheet that they "
        "belong here"
    )


def test_the_question_says_what_a_dot_gives_the_group() -> None:
    """``.`` gives a group the answer of the group before: the question says which group
    that is and its answer, blank included (a wrong one there files a group under the
    patient the person did not mean)."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:30:00"),
        media("DCIM/100CANON/IMG_0003.JPG", "2026-11-24 10:00:00"),
        media("DCIM/100CANON/IMG_0004.JPG", "2026-11-24 10:30:00"),
    ]
    groups = make_groups(files, GAP)
    replies = iter(["JBX3656", ".", "", "."])
    asked: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return next(replies)

    answers = ask_ids(groups, ask, lambda _said: None, str.upper)
    assert answers == ["JBX3656", "JBX3656", None, None]
    assert asked == [
        "Patient ID for group 1 (blank: leave on the card): ",
        "Patient ID for group 2 (blank: leave on the card, .: same as group 1 (JBX3656)): ",
        "Patient ID for group 3 (blank: leave on the card, .: same as group 2 (JBX3656)): ",
        "Patient ID for group 4 (blank: leave on the card, .: same as group 3 (blank)): ",
    ]


def test_answers_are_one_for_each_group_or_no_map() -> None:
    """An answer short (or over) would leave a group out of the map, or give the groups the
    answers meant for others: no map is made."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:30:00"),
    ]
    groups = make_groups(files, GAP)
    with pytest.raises(ValueError, match="zip"):
        build_idmap(groups, ["JBX3656"])
    with pytest.raises(ValueError, match="zip"):
        build_idmap(groups, ["JBX3656", "MCJ1984", "ACA31FM"])


def test_no_id_at_all_says_nothing_is_copied_and_what_clears_the_card() -> None:
    files = [media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:00:00")]
    with pytest.raises(UsageError) as caught:
        build_idmap(make_groups(files, GAP), [None])
    assert caught.value.message == (
        "No patient ID was given, so there is nothing to copy (photos archived before are "
        "cleared from the card by cardingest wipe)"
    )
