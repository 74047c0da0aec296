"""Rules of the XMP keyword sidecars (`archive.xmp`) that its mutation round found
unpinned: the document's exact bytes, the names left to a camera's own XMP, what is told
ours from another program's, and that removing one follows no link."""

from __future__ import annotations

import os
from pathlib import Path

from cardingest.archive.xmp import (
    MARKER,
    TOOLKIT,
    Keywords,
    as_written,
    give_way,
    is_ours,
    render,
    reserved_names,
    sidecar_path,
    sidecar_problem,
    write_sidecar,
    write_sidecars,
)

KEYWORDS = Keywords(("melanoma", "bcc"), "back", "teaching")


def test_the_sidecar_is_byte_for_byte_the_document_earlier_versions_wrote() -> None:
    """`as_written` and `verify` compare a sidecar's bytes (the toolkit aside) with what
    this version renders: a byte changed anywhere in the document (the encoding's case,
    text between the lines or the items) made every sidecar on the archive "out of date",
    and one about to give way to a camera's XMP "edited by hand"."""
    expected = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="{TOOLKIT}">\n'
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '  <rdf:Description rdf:about=""\n'
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"\n'
        '    xmlns:lr="http://ns.adobe.com/lightroom/1.0/">\n'
        "   <dc:subject>\n    <rdf:Bag>\n"
        "     <rdf:li>melanoma</rdf:li>\n     <rdf:li>bcc</rdf:li>\n"
        "     <rdf:li>back</rdf:li>\n     <rdf:li>teaching</rdf:li>\n"
        "    </rdf:Bag>\n   </dc:subject>\n"
        "   <lr:hierarchicalSubject>\n    <rdf:Bag>\n"
        "     <rdf:li>diagnosis|melanoma</rdf:li>\n     <rdf:li>diagnosis|bcc</rdf:li>\n"
        "     <rdf:li>site|back</rdf:li>\n     <rdf:li>consent|teaching</rdf:li>\n"
        "    </rdf:Bag>\n   </lr:hierarchicalSubject>\n"
        "  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n"
    ).encode()
    assert render(KEYWORDS) == expected
    older = expected.replace(TOOLKIT.encode(), b"cardingest 0.1.0")
    assert as_written(older, KEYWORDS)


def test_a_keyword_xml_cannot_hold_is_named_in_the_problem(tmp_path: Path) -> None:
    """The warning names the sidecar and the keyword (its first 40 characters) that XML
    cannot hold; the photo is archived, its keywords stay in the catalogue."""
    keyword = "a" * 50 + "\x01"
    photo = tmp_path / "IMG_0001.JPG"
    problems = write_sidecars(Keywords((keyword,)), [("P/IMG_0001.JPG", photo)], set())
    assert problems == [
        f"keywords sidecar {tmp_path / 'IMG_0001.xmp'} not written: keyword"
        f" {'a' * 40!r} contains characters XML cannot hold"
    ]
    assert not (tmp_path / "IMG_0001.xmp").exists()


def test_no_sidecar_is_as_written_for_keywords_xml_cannot_hold() -> None:
    """No sidecar was ever written for such keywords, so one of ours there is another
    one (older keywords, or edited): it does not give way as if written for them."""
    ours = render(Keywords(site="back"))
    assert not as_written(ours, Keywords(("bad\x01",)))


def test_a_name_the_cameras_xmp_takes_is_left_to_it_in_a_folder_with_a_dot(
    tmp_path: Path,
) -> None:
    """The plan copies the camera's IMG_0001.XMP to v1.2/IMG_0001.xmp: the keywords sidecar
    of IMG_0001.JPG would take that name, so it is not written (the keywords stay in the
    catalogue). The names compare without case, cut at the last dot only."""
    reserved = reserved_names(["ABC1234/v1.2/IMG_0001.XMP", None, "ABC1234/v1.2/IMG_0001.JPG"])
    assert reserved == {"abc1234/v1.2/img_0001"}
    photo = tmp_path / "v1.2" / "IMG_0001.JPG"
    photo.parent.mkdir()
    assert write_sidecars(KEYWORDS, [("ABC1234/v1.2/IMG_0001.JPG", photo)], reserved) == []
    assert not sidecar_path(photo).exists()


def test_each_copy_is_judged_by_its_own_name(tmp_path: Path) -> None:
    """A copy whose sidecar name is the camera's leaves only that one out: the next copy
    still gets its sidecar."""
    first, second = tmp_path / "IMG_0001.JPG", tmp_path / "IMG_0002.JPG"
    copies = [("P/IMG_0001.JPG", first), ("P/IMG_0002.JPG", second)]
    assert write_sidecars(KEYWORDS, copies, {"p/img_0001"}) == []
    assert not sidecar_path(first).exists()
    assert sidecar_path(second).read_bytes() == render(KEYWORDS)


def _ours_elsewhere(tmp_path: Path) -> Path:
    """A keywords sidecar as written for KEYWORDS, outside the archive."""
    outside = tmp_path / "outside"
    outside.mkdir()
    assert write_sidecar(outside / "IMG_0001.JPG", KEYWORDS) == "written"
    return outside / "IMG_0001.xmp"


def test_giving_way_follows_no_link_at_the_sidecars_name(tmp_path: Path) -> None:
    """A link at the sidecar's name is no sidecar of ours, whatever it points at: it is
    left, and so is the file it points to."""
    target = _ours_elsewhere(tmp_path)
    (tmp_path / "archive" / "ABC1234").mkdir(parents=True)
    link = tmp_path / "archive" / "ABC1234" / "IMG_0001.xmp"
    link.symlink_to(target)
    assert give_way(tmp_path / "archive", "ABC1234/IMG_0001.xmp", KEYWORDS) is False
    assert link.is_symlink()
    assert target.read_bytes() == render(KEYWORDS)


def test_giving_way_follows_no_link_among_the_folders(tmp_path: Path) -> None:
    """A folder of the target that is a link to elsewhere: the sidecar behind it is not the
    archive's, and is never removed through the link."""
    target = _ours_elsewhere(tmp_path)
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "ABC1234").symlink_to(target.parent)
    assert give_way(tmp_path / "archive", "ABC1234/IMG_0001.xmp", KEYWORDS) is False
    assert target.read_bytes() == render(KEYWORDS)


def test_a_sidecar_is_ours_only_by_the_marker_in_its_first_4_kib(tmp_path: Path) -> None:
    """An editor's XMP that quotes cardingest's toolkit further in (a history entry) is
    another program's file: never overwritten."""
    photo = tmp_path / "IMG_0001.JPG"
    foreign = b'<x:xmpmeta x:xmptk="Adobe XMP">' + b" " * 5000 + MARKER + b' 0.1"/>'
    sidecar_path(photo).write_bytes(foreign)
    assert is_ours(sidecar_path(photo)) is False
    assert write_sidecar(photo, KEYWORDS) == "foreign"
    assert sidecar_path(photo).read_bytes() == foreign


def test_an_unreadable_sidecar_is_said_with_its_reason(tmp_path: Path) -> None:
    """`verify` says why a sidecar could not be read, in words, not an exception's repr."""
    photo = tmp_path / "IMG_0001.JPG"
    sidecar_path(photo).mkdir()
    assert sidecar_problem(photo, KEYWORDS) == "unreadable: Is a directory"
    assert os.path.isdir(sidecar_path(photo))
