"""The DICOM object of a photo, its UIDs and the JPEG markers it is built from, each pinned
where a mutant changed it unseen.

Written for the mutation round on ``export/dicom``, ``export/uids`` and ``export/jpeg``
(docs/testing.md). ``test_dicom.py`` checks a dataset's patient, times and pixels, and runs
the real export; it did not look at most of what else a dataset says (the study's date, the
equipment, a turned frame's derivation, the character set), nor pin the UIDs an earlier
version gave, nor feed the marker reader the JPEGs a camera or an editor can write. Here
each dataset is written as a Part 10 file in ``tmp_path`` and read back with pydicom; the
JPEGs are real files made by Pillow, or built marker by marker where the layout is the
point.
"""

from __future__ import annotations

import struct
from datetime import datetime
from pathlib import Path
from typing import Any

import pydicom
import pytest
from dicom_helpers import OTHER, PATIENT, photo_facts
from exif_bytes import EOI, SOI, app1, segment
from PIL import Image
from pydicom.dataset import Dataset

from cardingest import __version__
from cardingest.export import uids
from cardingest.export.dicom import (
    IMPLEMENTATION_VERSION,
    PhotoFacts,
    build_dataset,
    instance_uid,
    part10_bytes,
    series_uid,
    study_uid,
)
from cardingest.export.jpeg import image_end, jpeg_info, segments
from cardingest.export.rotate import Frame
from cardingest.export.settings import DicomOptions

SHA = "ab" * 32
INGEST = "20261130T010203Z-abc"
ROOT = "1.2.826.0.1.3680043.10.543"


def camera_jpeg(tmp_path: Path, mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> bytes:
    """A real JPEG file (Pillow's baseline coder), written in ``tmp_path`` and read back."""
    path = tmp_path / f"photo-{mode}-{size[0]}x{size[1]}.jpg"
    Image.new(mode, size, color=(180, 120, 90) if mode == "RGB" else 128).save(path, "JPEG")
    return path.read_bytes()


def written(
    tmp_path: Path,
    photo: PhotoFacts,
    data: bytes,
    options: DicomOptions | None = None,
    **frame: Any,
) -> Dataset:
    """The dataset for ``photo`` written as a Part 10 file and read back by pydicom."""
    ds = build_dataset(photo, Frame(data, jpeg_info(data), **frame), options or DicomOptions())
    path = tmp_path / "photo.dcm"
    path.write_bytes(part10_bytes(ds))
    return pydicom.dcmread(path)


# --- the dataset ---------------------------------------------------------------------------


def test_every_attribute_of_a_photo_is_what_its_facts_say(tmp_path: Path) -> None:
    """One photo with every fact given: each attribute the PACS shows or files by is what
    the facts say, or the fixed value of a camera photo; the study is dated by the first
    photo of the patient in the ingest, not this one; nothing names the patient but the
    ID. A mutant that emptied the study date, changed the description or the equipment, or
    invented a referring physician or accession number, passed every test before."""
    data = camera_jpeg(tmp_path)
    photo = photo_facts(
        ingest_id="20261130T010203Z-abcdef",
        study_start=datetime(2008, 5, 4, 9, 5, 7),
        make="PENTAX",
        model="K10D",
        instance_number=7,
        series_number=3,
        site="left forearm",
    )
    read = written(tmp_path, photo, data, DicomOptions(uid_root=ROOT, issuer="NHI"))
    meta = read.file_meta
    assert meta.ImplementationClassUID == uids.derive("2.25", "implementation", __version__)
    assert meta.ImplementationVersionName == IMPLEMENTATION_VERSION
    assert meta.MediaStorageSOPInstanceUID == read.SOPInstanceUID
    assert "SpecificCharacterSet" not in read  # every text is ASCII
    assert "TimezoneOffsetFromUTC" not in read  # the camera wrote none
    assert (read.PatientID, read.IssuerOfPatientID) == (PATIENT, "NHI")
    assert (read.PatientName, read.PatientBirthDate, read.PatientSex) == ("", "", "")
    assert (read.StudyDate, read.StudyTime) == ("20080504", "090507")
    assert (read.ContentDate, read.ContentTime) == ("20080504", "164724")
    assert read.AcquisitionDateTime == "20080504164724"
    assert read.StudyID == "20261130T010203Z"
    assert read.StudyDescription == "Clinical photographs"
    assert (read.ReferringPhysicianName, read.AccessionNumber) == ("", "")
    assert (read.Modality, read.SeriesNumber, read.InstanceNumber) == ("XC", 3, 7)
    assert (read.Manufacturer, read.ManufacturerModelName) == ("PENTAX", "K10D")
    assert read.SoftwareVersions == f"cardingest {__version__}"
    assert read.ImageType == ["ORIGINAL", "PRIMARY"] and "DerivationDescription" not in read
    assert read.ImageComments == "Body site: left forearm"
    assert (read.BurnedInAnnotation, read.LossyImageCompression) == ("NO", "01")
    assert read.LossyImageCompressionMethod == "ISO_10918_1"
    # uncompressed size (rows x columns x samples) over the JPEG's
    assert read.LossyImageCompressionRatio == float(f"{48 * 64 * 3 / len(data):.4f}")
    assert (read.SamplesPerPixel, read.PlanarConfiguration) == (3, 0)
    assert (read.Rows, read.Columns, read.BitsAllocated, read.BitsStored) == (48, 64, 8, 8)
    assert (read.HighBit, read.PixelRepresentation) == (7, 0)


def test_a_photo_with_no_camera_named_has_an_empty_manufacturer_and_no_model(
    tmp_path: Path,
) -> None:
    """A photo with no make or model in its EXIF: Manufacturer (type 2) is there and empty,
    the model is left out, and the study's time has no fraction. A mutant that wrote
    "XXXX" for the missing make, or a model, or a lone "." after the seconds, passed."""
    read = written(tmp_path, photo_facts(), camera_jpeg(tmp_path))
    assert read.Manufacturer == "" and "ManufacturerModelName" not in read
    assert read.StudyTime == "164724" and read.ContentTime == "164724"
    assert read.SeriesInstanceUID == series_uid("2.25", PATIENT, INGEST, "", "")


def test_a_turned_frame_is_derived_and_names_the_camera_files_sha256(tmp_path: Path) -> None:
    """A frame jpegtran turned is not the camera's: Image Type DERIVED, and a Derivation
    Description naming the turn and the archived file's sha256 (lower case, as the
    catalogue and `sha256sum` write it), so the PACS copy can be traced to the archive."""
    read = written(
        tmp_path,
        photo_facts(sha256=SHA.upper()),
        camera_jpeg(tmp_path),
        transform="jpegtran -rotate 90",
    )
    assert read.ImageType == ["DERIVED", "PRIMARY"]
    assert read.DerivationDescription == (
        f"Turned upright losslessly (jpegtran -rotate 90) from the camera's JPEG, sha256 {SHA}"
    )


def test_a_grey_photo_has_no_planar_configuration(tmp_path: Path) -> None:
    """Planar Configuration is for a photo of more than one sample per pixel (type 1C): a
    grey JPEG has one, and dciodvfy reports the attribute there as an error."""
    read = written(tmp_path, photo_facts(), camera_jpeg(tmp_path, mode="L"))
    assert (read.SamplesPerPixel, read.PhotometricInterpretation) == (1, "MONOCHROME2")
    assert "PlanarConfiguration" not in read


@pytest.mark.parametrize("field", ["site", "make", "model", "issuer"])
def test_the_character_set_is_declared_when_any_text_is_not_ascii(
    tmp_path: Path, field: str
) -> None:
    """Any one text outside ASCII (a site typed in Māori, a maker's or an issuer's name)
    declares UTF-8, and reads back as typed; a mutant that looked only at some of them
    (or at none) wrote bytes a PACS reads in its default character set."""
    texts = {"site": "cheek", "make": "Maker", "model": "Model", "issuer": "NHI"}
    texts[field] = "Pāpāringa ü"
    photo = photo_facts(site=texts["site"], make=texts["make"], model=texts["model"])
    read = written(tmp_path, photo, camera_jpeg(tmp_path), DicomOptions(issuer=texts["issuer"]))
    assert read.SpecificCharacterSet == "ISO_IR 192"
    assert read.ImageComments == f"Body site: {texts['site']}"
    assert (read.Manufacturer, read.ManufacturerModelName) == (texts["make"], texts["model"])
    assert read.IssuerOfPatientID == texts["issuer"]


def test_long_values_are_cut_at_what_dicom_allows(tmp_path: Path) -> None:
    """A make, model or issuer longer than LO's 64 characters is cut at 64 (a longer value
    is invalid and some PACS refuse the instance); a site at Image Comments' 10240."""
    long = "M" * 70
    photo = photo_facts(make=long, model=long + "x", site="s" * 10300)
    read = written(tmp_path, photo, camera_jpeg(tmp_path), DicomOptions(issuer="I" * 70))
    assert read.Manufacturer == "M" * 64 and read.ManufacturerModelName == "M" * 64
    assert read.IssuerOfPatientID == "I" * 64
    assert len(read.ImageComments) == 10240 and read.ImageComments.startswith("Body site: s")


@pytest.mark.parametrize(
    ("subsec", "content_time"),
    [("1234567", "164724.123456"), ("2x5", "164724.25"), ("２５", "164724"), ("", "164724")],
)
def test_subseconds_are_ascii_digits_and_at_most_six(
    tmp_path: Path, subsec: str, content_time: str
) -> None:
    """EXIF SubSecTime is text: only its ASCII digits go into a DICOM time, at most six
    (TM's microseconds); a full-width digit or a letter is dropped, not written."""
    read = written(tmp_path, photo_facts(subsec=subsec), camera_jpeg(tmp_path))
    assert read.ContentTime == content_time
    assert read.AcquisitionDateTime == "20080504" + content_time


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        ("+13:00", "+1300"),
        ("-0530", "-0530"),
        ("+14:00", "+1400"),
        ("-12:00", "-1200"),
        ("+00:00", "+0000"),
        ("+１２:００", None),
        ("local", None),
        ("+99:99", None),
        ("+14:01", None),
        ("-12:30", None),
        ("+05:60", None),
    ],
)
def test_a_utc_offset_goes_only_in_dicoms_form(
    tmp_path: Path, offset: str, expected: str | None
) -> None:
    """The camera's offset as DICOM's ``+HHMM``; one that is not that in ASCII digits (a
    full-width ``+１２:００``, a word), or that no clock has (past DICOM's -1200 to +1400,
    60 minutes or more), is left out rather than written as it is, or a traceback."""
    read = written(tmp_path, photo_facts(utc_offset=offset), camera_jpeg(tmp_path))
    assert read.get("TimezoneOffsetFromUTC") == expected


# --- the UIDs ------------------------------------------------------------------------------


def test_uids_are_those_every_earlier_version_gave() -> None:
    """The UIDs of a photo never change between versions: the PACS holds each instance
    under the UID it was first sent with, and a send after an upgrade that derived another
    would store every photo twice (and a study split in two). Pinned for the default root
    and an organisation's; a mutant that changed a UID's kind ("study", "series") or left
    one of its parts out passed every test before."""
    assert instance_uid("2.25", PATIENT, SHA) == "2.25.19719967536407493578452469454403712242"
    assert instance_uid(ROOT, PATIENT, SHA) == f"{ROOT}.6826716839648109610670902297831126922"
    assert study_uid("2.25", PATIENT, INGEST) == "2.25.128684304464779175032073350845820491045"
    assert study_uid(ROOT, PATIENT, INGEST) == f"{ROOT}.6768962120363863224372810718702345687"
    series = series_uid("2.25", PATIENT, INGEST, "PENTAX", "K10D")
    assert series == "2.25.267816458420392032428983843864277712589"
    series = series_uid(ROOT, PATIENT, INGEST, "PENTAX", "K10D")
    assert series == f"{ROOT}.8049587995104016371567988726818324043"


@pytest.mark.parametrize(
    "changed",
    [(OTHER, INGEST, "PENTAX", "K10D"), (PATIENT, "20261201T000000Z-def", "PENTAX", "K10D"),
     (PATIENT, INGEST, "Canon", "K10D"), (PATIENT, INGEST, "PENTAX", "K20D")],
)  # fmt: skip
@pytest.mark.parametrize("root", ["2.25", ROOT])
def test_a_series_is_one_camera_of_one_patient_in_one_ingest(
    root: str, changed: tuple[str, str, str, str]
) -> None:
    """Two patients photographed with one camera in one ingest are two series, as are one
    patient's photos from two ingests or two cameras: a series UID shared by two patients
    merges their photos in the PACS."""
    assert series_uid(root, *changed) != series_uid(root, PATIENT, INGEST, "PENTAX", "K10D")


@pytest.mark.parametrize("root", ["2.25", ROOT])
def test_two_photos_of_one_patient_are_two_instances_and_case_does_not_matter(root: str) -> None:
    """Each photo's instance UID comes from its content's sha256: two photos of one patient
    sharing a UID would be one instance to the PACS (the second overwriting the first, or
    refused). The sha256 in capitals (as some tools write it) is the same photo."""
    first = instance_uid(root, PATIENT, SHA)
    assert instance_uid(root, PATIENT, "cd" * 32) != first
    assert instance_uid(root, PATIENT, SHA.upper()) == first


# --- the JPEG markers ----------------------------------------------------------------------

ORIENTATION, IMAGE_WIDTH, MAKE = 0x0112, 0x0100, 0x010F


def frame_header(
    rows: int = 48,
    columns: int = 64,
    factors: tuple[int, ...] = (0x22, 0x11, 0x11),
    code: int = 0xC0,
    precision: int = 8,
) -> bytes:
    """A frame header (baseline SOF0, 8 bits unless said), a component per sampling factor."""
    body = struct.pack(">BHHB", precision, rows, columns, len(factors))
    body += b"".join(bytes([n + 1, f, 0]) for n, f in enumerate(factors))
    return segment(code, body)


SCAN_HEADER = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")


def marked(*before_scan: bytes, scan: bytes = b"\x12\x34\x56", after: bytes = EOI) -> bytes:
    """A JPEG laid out marker by marker: what comes before the scan, the scan's header and
    entropy-coded ``scan``, then ``after`` (the end-of-image marker unless said)."""
    return SOI + b"".join(before_scan) + SCAN_HEADER + scan + after


def tiff(order: str, entries: list[tuple[int, int, int]], magic: bytes = b"") -> bytes:
    """A TIFF block whose IFD0 holds SHORT ``(tag, type, value)`` entries, in that order."""
    head = (magic or (b"II" if order == "<" else b"MM")) + struct.pack(order + "HI", 42, 8)
    ifd = struct.pack(order + "H", len(entries))
    for tag, kind, value in entries:
        ifd += struct.pack(order + "HHIHH", tag, kind, 1, value, 0)
    return head + ifd + b"\0\0\0\0"


def with_exif(data: bytes, block: bytes) -> bytes:
    """``data`` (a JPEG) with an APP1 Exif segment holding ``block`` right after its SOI."""
    return data[:2] + app1(block) + data[2:]


@pytest.mark.parametrize("value", range(1, 9))
@pytest.mark.parametrize("order", ["<", ">"])
def test_the_orientation_is_read_in_either_byte_order(
    tmp_path: Path, order: str, value: int
) -> None:
    """EXIF in Motorola order (``MM``: Nikon, Pentax, Sony...) or Intel's: every
    Orientation reads as written, so the photo is turned upright before it goes. A mutant
    that read every block as Intel's, or refused ``MM``, sent Nikon portraits on their
    side."""
    data = with_exif(camera_jpeg(tmp_path), tiff(order, [(ORIENTATION, 3, value)]))
    assert jpeg_info(data).orientation == value


@pytest.mark.parametrize(
    "block",
    [
        tiff("<", [(ORIENTATION, 3, 0)]),
        tiff(">", [(ORIENTATION, 3, 9)]),
        tiff("<", [(ORIENTATION, 3, 0xFFFF)]),
        tiff("<", [(MAKE, 3, 6)])[:-4],  # no Orientation, and the block cut short after it
        tiff("<", [(MAKE, 2, 6)]),  # no Orientation
        tiff(">", [(ORIENTATION, 3, 6)], magic=b"XX"),  # neither II nor MM
        tiff("<", [(IMAGE_WIDTH, 3, 6), (ORIENTATION, 3, 1)]),  # a SHORT of 6 before it
        # An IFD of one entry, with an Orientation of 6 just past it (not the IFD's)
        tiff("<", [(MAKE, 2, 6), (ORIENTATION, 3, 6)]).replace(b"\x02\x00", b"\x01\x00", 1),
        # An IFD offset past the end that, read as a signed number, points at the tail
        b"II*\0" + struct.pack("<I", 2**32 - 18) + tiff("<", [(ORIENTATION, 3, 6)])[8:],
        b"II*\0\x08",  # too short for a TIFF header
    ],
    ids=["zero", "nine", "65535", "cut-short", "absent", "byte-order-XX", "short-before",
         "past-the-count", "offset-past-the-end", "too-short"],
)  # fmt: skip
def test_an_orientation_out_of_range_absent_or_not_the_ifds_is_upright(
    tmp_path: Path, block: bytes
) -> None:
    """Orientation is IFD0's tag 0x0112 of type SHORT, 1 to 8; anything else (a value out of
    range, no such tag, another SHORT before it, an entry past the IFD's count, an offset
    past the block, no byte order) is no orientation: the photo goes as it is. Mutants
    that read one of these as 2, 3 or 6 sent a photo flipped or turned that its camera
    had written upright."""
    assert jpeg_info(with_exif(camera_jpeg(tmp_path), block)).orientation == 1


def adobe(transform: int, size: int = 12, name: bytes = b"Adobe") -> bytes:
    """An APP14 body: the name, version, two flag words, then the colour transform byte."""
    return (name + b"\x00\x64\x00\x00\x00\x00" + bytes([transform]))[:size].ljust(size, b"\0")


@pytest.mark.parametrize(
    ("segments", "photometric"),
    [
        ([segment(0xEE, adobe(0)), frame_header()], "RGB"),
        ([frame_header(), segment(0xEE, adobe(0))], "RGB"),  # after the frame header
        ([segment(0xEE, adobe(0, size=14)), frame_header()], "RGB"),
        ([segment(0xEE, adobe(1)), frame_header()], "YBR_FULL_422"),
        ([segment(0xEE, adobe(0, size=11)), frame_header()], "YBR_FULL_422"),  # no flag
        ([segment(0xEF, adobe(0)), frame_header()], "YBR_FULL_422"),  # APP15
        ([segment(0xEE, adobe(0, name=b"adobe")), frame_header()], "YBR_FULL_422"),
        ([segment(0xEE, adobe(0, name=b"Other")), frame_header()], "YBR_FULL_422"),
    ],
    ids=["rgb", "rgb-after-sof", "rgb-longer", "ycbcr", "too-short", "app15", "lower-case",
         "not-adobe"],
)  # fmt: skip
def test_an_adobe_marker_says_whether_the_colours_are_rgb(
    segments: list[bytes], photometric: str
) -> None:
    """A JPEG with an Adobe APP14 marker whose transform flag is 0 holds RGB, not YCbCr
    (Photoshop writes them): the dataset must say RGB or every viewer shows its colours
    wrong (a red rash green). Only APP14 named exactly "Adobe", long enough to hold the
    flag, says so, before the frame header or after it."""
    info = jpeg_info(marked(*segments))
    assert (info.photometric, info.components) == (photometric, 3)


@pytest.mark.parametrize(
    ("subsampling", "expected"), [(0, False), (1, True), (2, True)], ids=["444", "422", "420"]
)
def test_chroma_subsampling_is_read_from_the_frame_header(
    tmp_path: Path, subsampling: int, expected: bool
) -> None:
    """Pillow's 4:4:4, 4:2:2 and 4:2:0 JPEGs, and a frame whose second component only is
    sampled less than the luma: ``subsampled`` says which (nothing decides on it yet; it
    is carried with the frame)."""
    path = tmp_path / f"s{subsampling}.jpg"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(path, "JPEG", subsampling=subsampling)
    assert jpeg_info(path.read_bytes()).subsampled is expected
    assert jpeg_info(marked(frame_header(factors=(0x22, 0x11, 0x22)))).subsampled
    assert jpeg_info(marked(frame_header(factors=(0x12, 0x11, 0x12)))).subsampled
    assert not jpeg_info(marked(frame_header(factors=(0x22, 0x22, 0x22)))).subsampled


def test_a_photo_over_32767_pixels_has_its_size() -> None:
    """Rows and columns are unsigned 16-bit: a 40000-pixel panorama is 40000, not negative."""
    info = jpeg_info(marked(frame_header(rows=40000, columns=65000)))
    assert (info.rows, info.columns) == (40000, 65000)


@pytest.mark.parametrize(
    ("header", "baseline"),
    [
        (frame_header(), True),
        (frame_header(factors=(0x11,)), True),
        (frame_header(code=0xC2), False),  # progressive
        (frame_header(code=0xC1), False),  # extended
        (frame_header(precision=12), False),
        (frame_header(factors=(0x11, 0x11, 0x11, 0x11)), False),  # CMYK
    ],
    ids=["sof0", "grey", "progressive", "extended", "12-bit", "4-components"],
)
def test_baseline_is_sof0_of_8_bits_and_one_or_three_components(
    header: bytes, baseline: bool
) -> None:
    """What jpegtran hands back is sent as JPEG Baseline only if it is: a progressive,
    12-bit or CMYK frame labelled Baseline is one no PACS viewer decodes. (``baseline`` is
    a property, which mutmut does not mutate: its mutants were made by hand.)"""
    assert jpeg_info(marked(header)).baseline is baseline


PAST_THE_END = "the JPEG segment at byte 2 runs past the end of the file"
CUT_SHORT = "the JPEG ends inside its image data"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"II*\0" + bytes(20), "not a JPEG (no start-of-image marker)"),
        (SOI + b"\x00" + EOI, "no JPEG marker at byte 2"),
        (SOI + segment(0xFE, b"abc") + b"junk" + EOI, "no JPEG marker at byte 9"),
        (SOI + segment(0xFE, b"abc"), "the JPEG has no end marker"),
        (SOI + b"\xff\xff", "the JPEG has no end marker"),
        (SOI + b"\xff\xfe\x00\x10ab", PAST_THE_END),
        (SOI + b"\xff\xfe\x00\x01" + EOI, PAST_THE_END),
        (marked(frame_header(), scan=b"\x12\x34", after=b""), CUT_SHORT),
        (marked(frame_header(), scan=b"\x12\xff", after=b""), CUT_SHORT),
        (SOI + segment(0xC0, bytes(5)) + EOI, "JPEG frame header is too short"),
        (SOI + segment(0xC0, b"\x08\0\x30\0\x40\x03") + EOI,
         "JPEG frame header is too short for its components"),
        (SOI + segment(0xC0, b"\x08\0\x30\0\x40\x03" + bytes(6)) + EOI,
         "JPEG frame header is too short for its components"),
        (SOI + segment(0xC0, b"\x08\0\x30\0\x40\x00" + bytes(9)) + EOI,
         "JPEG frame header is too short for its components"),
        (SOI + segment(0xFE, b"abc") + EOI, "JPEG has no frame header (SOF)"),
    ],
    ids=["tiff", "no-marker", "junk-after-segment", "no-eoi", "fill-to-end", "segment-past-end",
         "length-1", "scan-cut-short", "scan-ends-in-ff", "sof-5", "sof-6", "sof-12", "sof-0",
         "no-sof"],
)  # fmt: skip
def test_what_is_wrong_with_a_jpeg_is_said(data: bytes, message: str) -> None:
    """Each JPEG that cannot go is left out with its reason in the export's message ("not
    sendable: …"): the reason must be the right one, and a ValueError, not a traceback
    (an IndexError) that stops the export of every other photo."""
    with pytest.raises(ValueError) as raised:
        jpeg_info(data[: image_end(data)] if message.startswith("JPEG") else data)
    assert str(raised.value) == message
    if not message.startswith("JPEG"):
        with pytest.raises(ValueError) as ended:
            image_end(data)
        assert str(ended.value) == message


def test_markers_inside_a_scan_do_not_end_it_and_what_follows_the_photo_is_not_it() -> None:
    """A scan's stuffed 0xFF 0x00 and its restart markers (RST0 to RST7) are image data: the
    photo ends at the end-of-image marker after them, and a second image or a video after
    that (an MPO, a phone's motion photo) is no part of it. A mutant that ended the scan
    at RST0 or RST7, skipped a byte after a stuffed 0xFF, or looked for the last 0xFF of
    the file, lost the photo or took the video into it."""
    scan = b"\x12\xff\x00\x34\xff\xd0\x56\xff\xd7\x78\xff\x00"
    photo = marked(frame_header(), scan=scan)
    second = marked(frame_header(), scan=b"\xff\x00\x01")
    assert image_end(photo + second) == len(photo)
    markers = [marker for marker, *_ in segments(photo + second)]
    assert markers == [0xC0, 0xDA, 0xD9]


def test_an_empty_segment_and_a_standalone_marker_are_passed_over() -> None:
    """A segment with nothing in it (length 2: an empty comment) and a marker with no
    length (TEM) are valid JPEG: the frame header after them is read."""
    data = SOI + segment(0xFE, b"") + b"\xff\x01" + frame_header(rows=30) + SCAN_HEADER + EOI
    assert jpeg_info(data).rows == 30 and image_end(data) == len(data)
