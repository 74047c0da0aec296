"""Which file gives a shot its time, and where a shot stands in its second (`plan/shots`),
with the expected values written out."""

from __future__ import annotations

from factories import media

from cardingest.plan.shots import name_order, primary_photo, same_second_order


def test_the_jpeg_of_a_raw_pair_gives_the_time_though_the_raw_sorts_first() -> None:
    raw, jpeg = media("DCIM/100CANON/IMG_0001.CR2"), media("DCIM/100CANON/IMG_0001.JPG")
    assert primary_photo([raw, jpeg]) is jpeg
    assert primary_photo([jpeg, raw]) is jpeg


def test_a_better_time_source_wins_over_the_jpeg() -> None:
    raw = media("DCIM/100CANON/IMG_0001.CR2")
    jpeg = media("DCIM/100CANON/IMG_0001.JPG", source="exif:DateTime")
    assert primary_photo([jpeg, raw]) is raw
    assert primary_photo([]) is None


def test_the_order_key_is_fraction_folder_name_order_stem() -> None:
    assert same_second_order(media("DCIM/101CANON/IMG_0042.JPG", subsec="5")) == (
        0.5,
        "DCIM/101CANON",
        ("", 42, ""),
        "IMG_0042",
    )
    assert same_second_order(media("DCIM/100CANON/IMG_0042.JPG")) == (
        0.0,
        "DCIM/100CANON",
        ("", 42, ""),
        "IMG_0042",
    )


def test_a_cameras_number_is_its_last_four_digits_and_other_names_go_by_their_numbers() -> None:
    assert name_order("P1010042") == ("", 42, "")
    assert name_order("img_0042") == ("", 42, "")
    assert name_order("IMG_12345") == ("IMG_", 12345, "")
    assert name_order("IMG_20240305_101500_1") == ("IMG_", 20240305, "_", 101500, "_", 1, "")
    assert name_order("photo") == ("PHOTO",)
    assert name_order("IMG_²") == ("IMG_²",)


def test_the_number_orders_shots_whose_prefixes_differ() -> None:
    """Canon writes _MG_ for Adobe RGB photos: _MG_0004 was taken before IMG_0005."""
    shots = [media("DCIM/100CANON/IMG_0005.JPG"), media("DCIM/100CANON/_MG_0004.JPG")]
    ordered = sorted(shots, key=same_second_order)
    assert [m.path for m in ordered] == [
        "DCIM/100CANON/_MG_0004.JPG",
        "DCIM/100CANON/IMG_0005.JPG",
    ]


def test_an_iphones_edited_copy_is_numbered_with_its_photo() -> None:
    assert name_order("IMG_E0042") == ("", 42, "E")
    assert name_order("IMG_0042") < name_order("IMG_E0042") < name_order("IMG_0043")
