"""Same-second order, written out by hand: sub-seconds are fractions, folders come before
DCF numbers. The expected names are literal strings, not built from the planner's own code."""

from __future__ import annotations

import pytest
from factories import media

from cardingest.plan.idmap import parse_map_text, single_id_map
from cardingest.plan.planner import make_plan

ONE = single_id_map("JBX3656")
BASE = "JBX3656/JBX3656-20261124-091502"


def names(files: list) -> dict[str, str | None]:  # type: ignore[type-arg]
    plan = make_plan(files, ONE)
    found = {item.source: item.target for item in plan.items}
    assert make_plan(list(reversed(files)), ONE).items == plan.items
    return found


def test_folder_comes_before_the_dcf_number_across_a_rollover() -> None:
    """After IMG_9999 the camera starts 101CANON at IMG_0001: that shot came later."""
    found = names(
        [
            media("DCIM/101CANON/IMG_0001.JPG"),
            media("DCIM/100CANON/IMG_9999.JPG"),
            media("DCIM/101CANON/IMG_0002.JPG"),
            media("DCIM/100CANON/IMG_9998.JPG"),
        ]
    )
    assert found == {
        "DCIM/100CANON/IMG_9998.JPG": BASE + ".jpg",
        "DCIM/100CANON/IMG_9999.JPG": BASE + "-2.jpg",
        "DCIM/101CANON/IMG_0001.JPG": BASE + "-3.jpg",
        "DCIM/101CANON/IMG_0002.JPG": BASE + "-4.jpg",
    }


def test_subseconds_are_fractions_not_integers() -> None:
    """ "5" is 0.5 s and "10" is 0.10 s: the shot with "10" came first."""
    found = names(
        [
            media("DCIM/100CANON/IMG_0001.JPG", subsec="5"),
            media("DCIM/100CANON/IMG_0002.JPG", subsec="10"),
            media("DCIM/100CANON/IMG_0003.JPG", subsec="075"),
            media("DCIM/100CANON/IMG_0004.JPG", subsec="9"),
        ]
    )
    assert found == {
        "DCIM/100CANON/IMG_0003.JPG": BASE + ".jpg",  # 0.075
        "DCIM/100CANON/IMG_0002.JPG": BASE + "-2.jpg",  # 0.10
        "DCIM/100CANON/IMG_0001.JPG": BASE + "-3.jpg",  # 0.5
        "DCIM/100CANON/IMG_0004.JPG": BASE + "-4.jpg",  # 0.9
    }


def test_subsecond_wins_over_folder_and_number() -> None:
    """The sub-second is the camera's own order; folder and number only break ties."""
    found = names(
        [
            media("DCIM/100CANON/IMG_0001.JPG", subsec="80"),
            media("DCIM/101CANON/IMG_0001.JPG", subsec="20"),
        ]
    )
    assert found == {
        "DCIM/101CANON/IMG_0001.JPG": BASE + ".jpg",
        "DCIM/100CANON/IMG_0001.JPG": BASE + "-2.jpg",
    }


def test_a_missing_subsecond_counts_as_zero() -> None:
    found = names(
        [
            media("DCIM/100CANON/IMG_0001.JPG", subsec="1"),
            media("DCIM/100CANON/IMG_0002.JPG"),
        ]
    )
    assert found == {
        "DCIM/100CANON/IMG_0002.JPG": BASE + ".jpg",
        "DCIM/100CANON/IMG_0001.JPG": BASE + "-2.jpg",
    }


def test_two_patients_named_into_one_folder_never_share_a_name() -> None:
    """A folder template without {id} (which the config refuses, but the planner does not
    rely on that) puts two patients' photos of one second under one name. The planner keeps
    no record of a shot named without -N when no folder holds two patients; here one does,
    so the second patient's photo must still get -2, not the first one's name."""
    idmap = parse_map_text("files,id\n100CANON/IMG_0001,JBX3656\n100CANON/IMG_0002,ACA31FM\n")
    files = [media("DCIM/100CANON/IMG_0001.JPG"), media("DCIM/100CANON/IMG_0002.JPG")]
    for folder_template in ("shared", "{date}"):
        plan = make_plan(files, idmap, folder_template=folder_template, name_template="{time}")
        folder = "shared" if folder_template == "shared" else "20261124"
        assert {item.target: item.patient_id for item in plan.items} == {
            f"{folder}/091502.jpg": "ACA31FM",
            f"{folder}/091502-2.jpg": "JBX3656",
        }


def test_a_folder_is_shared_only_when_two_patients_name_into_it() -> None:
    """The check behind the namer's saving, on (patient, name, path, shot) entries: the
    folder is what lies before a name's last '/'."""
    from cardingest.plan.planner import _folder_shared

    def entries(*pairs: tuple[str, str]) -> list:  # type: ignore[type-arg]
        return [(patient, name, f"DCIM/{n}.JPG", None) for n, (patient, name) in enumerate(pairs)]

    own = entries(
        ("JBX3656", "2026/JBX3656/a"), ("JBX3656", "2026/JBX3656/b"), ("ACA31FM", "2026/ACA31FM/a")
    )
    assert not _folder_shared(own)
    assert not _folder_shared([])
    assert _folder_shared(entries(("JBX3656", "2026/x/a"), ("ACA31FM", "2026/x/b")))
    assert _folder_shared(entries(("JBX3656", "x/a"), ("JBX3656", "x/b"), ("ACA31FM", "x/c")))


def test_a_name_without_the_time_numbers_a_days_photos_in_the_order_they_were_taken() -> None:
    """``name_template = "{id}-{date}"``: the 09:16:40 photo took the plain name and the two
    09:15:02 ones -2 and -3 (an outside tester's trial): the order was the same-second one
    (sub-second, folder, number), whatever the time."""
    files = [
        media("DCIM/100CANON/IMG_0001.JPG", "2026-11-24 09:16:40"),
        media("DCIM/100CANON/IMG_0002.JPG", "2026-11-24 09:15:02", subsec="5"),
        media("DCIM/100CANON/IMG_0003.JPG", "2026-11-24 09:15:02", subsec="1"),
    ]
    plan = make_plan(files, ONE, name_template="{id}-{date}")
    assert make_plan(list(reversed(files)), ONE, name_template="{id}-{date}").items == plan.items
    assert {item.source: item.target for item in plan.items} == {
        "DCIM/100CANON/IMG_0003.JPG": "JBX3656/JBX3656-20261124.jpg",
        "DCIM/100CANON/IMG_0002.JPG": "JBX3656/JBX3656-20261124-2.jpg",
        "DCIM/100CANON/IMG_0001.JPG": "JBX3656/JBX3656-20261124-3.jpg",
    }


@pytest.mark.parametrize(
    "in_order",
    [
        ["IMG_20261124_091502", "IMG_20261124_091502_1", "IMG_20261124_091502_2"],
        ["20261124_091502", "20261124_091502(0)", "20261124_091502(1)"],
        ["PXL_20261124_091502123", "PXL_20261124_091502456.MP", "PXL_20261124_091502987"],
    ],
)
def test_a_phones_photos_of_one_second_are_named_in_the_order_of_their_names_numbers(
    in_order: list[str],
) -> None:
    """A trial: a phone's second and third photo of a second (IMG_…_1, IMG_…_2; Samsung's
    …(0), …(1); a Pixel's milliseconds) took the second's plain name before its first photo,
    whose name ends in the time's digits: the last four characters were read as the number."""
    found = names([media(f"DCIM/Camera/{stem}.jpg") for stem in reversed(in_order)])
    assert found == {
        f"DCIM/Camera/{in_order[0]}.jpg": BASE + ".jpg",
        f"DCIM/Camera/{in_order[1]}.jpg": BASE + "-2.jpg",
        f"DCIM/Camera/{in_order[2]}.jpg": BASE + "-3.jpg",
    }


def test_a_cameras_file_number_orders_names_of_every_prefix_and_a_gopros_burst() -> None:
    """_MG_ (Canon's Adobe RGB) and IMG_ are one sequence; a GoPro's burst G0010002 is file
    2 of its own numbering, before GOPR0003."""
    found = names(
        [
            media("DCIM/100CANON/IMG_0005.JPG"),
            media("DCIM/100CANON/_MG_0004.JPG"),
            media("DCIM/100GOPRO/GOPR0003.JPG"),
            media("DCIM/100GOPRO/G0010002.JPG"),
        ]
    )
    assert found == {
        "DCIM/100CANON/_MG_0004.JPG": BASE + ".jpg",
        "DCIM/100CANON/IMG_0005.JPG": BASE + "-2.jpg",
        "DCIM/100GOPRO/G0010002.JPG": BASE + "-3.jpg",
        "DCIM/100GOPRO/GOPR0003.JPG": BASE + "-4.jpg",
    }
