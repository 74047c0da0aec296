"""``--sheet`` end to end: the console script on a FAT32 card image of real camera photos,
the sheet opened in headless Chromium with the network blocked.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright's Python package through
``executable_path`` (Playwright's own browser download is not used). Without either the tests
skip with the reason; under ``CARDINGEST_STRICT=1`` they fail. ``CARDINGEST_SHEET_SCREENSHOT``
names a file to copy the screenshot to (the README's is made that way).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cardimage import CardFactory, require
from sheet_helpers import Page

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
MAP = """files,id,diagnosis,site,consent
IMG_0001-IMG_0006,JBX3656,melanoma;naevus,left forearm,record
IMG_0012-IMG_0016,MCJ1984,psoriasis,,teaching
IMG_0022,ACA31FM,,,
"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    require(False, "chromium is not installed (apt-get install chromium)")
    raise AssertionError


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright Python package is missing (pip install '.[test]')")
    executable = chromium()
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def cardingest(*args: str | Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("cardingest")
    require(exe is not None, "the cardingest console script is not installed (pip install .)")
    assert exe is not None
    return subprocess.run(
        [exe, *map(str, args)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )


def camera_card(samples_dir: Path) -> dict[str, Path | bytes]:
    """The real samples in card order; Canon_40D.jpg twice (the same photo twice: one copy);
    IMG_0022 empty (held with its own reason although the map names it)."""
    files: dict[str, Path | bytes] = {}
    number = 0
    for path in sorted((samples_dir / "real").iterdir()):
        copies = 2 if path.name == "Canon_40D.jpg" else 1
        for _ in range(copies):
            number += 1
            files[f"DCIM/100CANON/IMG_{number:04d}{path.suffix.upper()}"] = path
    files["DCIM/100CANON/IMG_0022.JPG"] = b""
    return files


def open_sheet(browser: Any, sheet: Path, screenshot: Path) -> dict[str, Any]:
    """Render the sheet with every request outside the file refused; what the page shows."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    requests: list[str] = []

    def gate(route: Any) -> None:
        url = route.request.url
        requests.append(url)
        if url == sheet.as_uri() or url.startswith("data:"):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", gate)
    page.on("request", lambda request: requests.append(request.url))
    page.goto(sheet.as_uri(), wait_until="load")
    images = page.evaluate(
        "Array.from(document.images).map(i => ({source: i.closest('figure').dataset.source,"
        " complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}))"
    )
    text = page.inner_text("body")
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return {"requests": requests, "images": images, "text": text}


def keep_screenshot(screenshot: Path) -> None:
    wanted = os.environ.get("CARDINGEST_SHEET_SCREENSHOT")
    if wanted:
        shutil.copyfile(screenshot, wanted)


def test_preview_sheet_of_a_real_card_in_a_real_browser(
    fat_card: CardFactory, samples_dir: Path, tmp_path: Path, browser: Any
) -> None:
    mount = fat_card(camera_card(samples_dir), label="EOS_DIGITAL")
    map_file = tmp_path / "map.csv"
    map_file.write_text(MAP, encoding="utf-8")
    archive, sheet = tmp_path / "archive", tmp_path / "sheet.html"
    done = cardingest(
        "preview", mount, "--map", map_file, "--archive", archive, "--sheet", sheet, "--json"
    )
    assert done.returncode == 3, done.stderr
    items = json.loads(done.stdout)["items"]  # --sheet leaves stdout one JSON document
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
    assert not archive.exists()

    parsed = Page(sheet.read_text(encoding="utf-8"))
    photos = sorted(item["source"] for item in items)
    assert sorted(f["data-source"] for f in parsed.figures) == photos  # each exactly once
    held = {item["source"]: item["reason"] for item in items if item["action"] == "hold"}
    assert held["DCIM/100CANON/IMG_0022.JPG"] == "empty file (0 bytes)"
    assert held["DCIM/100CANON/IMG_0007.JPG"] == "not in the ID map"
    for source in photos:
        assert parsed.section_of[source] == ("held" if source in held else "group"), source
    groups = [s for s in parsed.sections if s.get("data-group")]
    assert [s["data-id"] for s in groups] == ["JBX3656", "MCJ1984"] or [
        s["data-id"] for s in groups
    ] == ["MCJ1984", "JBX3656"]
    # The twin: the same bytes again, planned as the ingest's copy gate skips it.
    [twin] = [item for item in items if (item["reason"] or "").startswith("the same photo as")]
    assert twin["action"] == "skip" and not twin["target"].endswith("-2.jpg")

    screenshot = tmp_path / "contact-sheet.png"
    shown = open_sheet(browser, sheet, screenshot)
    assert shown["requests"] and set(shown["requests"]) == {sheet.as_uri()}
    images = shown["images"]
    assert images, "no thumbnails on the page"
    for image in images:
        assert image["complete"] and image["width"] > 0 and image["height"] > 0, image
    decoded = {image["source"] for image in images}
    heic = {s for s in photos if s.endswith(".HEIC")}
    assert decoded == set(photos) - heic - {"DCIM/100CANON/IMG_0022.JPG"}
    text = shown["text"]
    for patient in ("JBX3656", "MCJ1984"):
        assert patient in text
    assert "HELD: NOT FILED" in text
    assert text.count("not in the ID map") == sum(r == "not in the ID map" for r in held.values())
    assert "empty file (0 bytes)" in text
    assert "diagnosis: melanoma; naevus" in text and "site: left forearm" in text
    assert "-2" in text
    assert screenshot.stat().st_size > 10_000
    keep_screenshot(screenshot)

    before = sheet.read_bytes()
    again = cardingest("preview", mount, "--map", map_file, "--archive", archive, "--sheet", sheet)
    assert again.returncode == 2
    assert "exists" in again.stderr and "Traceback" not in again.stderr
    assert sheet.read_bytes() == before


def actions_on(sheet: Path) -> dict[str, str]:
    """Each figure's action (its class: copy, skip, hold, failed) by card path."""
    figures = Page(sheet.read_text(encoding="utf-8")).figures
    return {f["data-source"] or "": (f.get("class") or "").split()[-1] for f in figures}


def test_ingest_sheet_shows_what_was_filed_and_what_was_already_there(
    fat_card: CardFactory, samples_dir: Path, tmp_path: Path, browser: Any
) -> None:
    mount = fat_card(camera_card(samples_dir))
    map_file = tmp_path / "map.csv"
    map_file.write_text(MAP, encoding="utf-8")
    archive = tmp_path / "archive"
    outcomes = []
    for run in ("first", "second"):
        sheet = tmp_path / f"{run}.html"
        done = cardingest(
            "ingest", mount, "--map", map_file, "--archive", archive, "--sheet", sheet, "--json"
        )
        assert done.returncode == 3, done.stderr
        items = json.loads(done.stdout)["items"]
        assert actions_on(sheet) == {i["source"]: i["action"] for i in items}
        assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
        assert "Contact sheet: ingest" in Page(sheet.read_text(encoding="utf-8")).all_text
        outcomes.append({i["source"]: i["action"] for i in items})
    first, second = outcomes
    assert "copy" in first.values() and "copy" not in second.values()
    copied = {source for source, action in first.items() if action == "copy"}
    assert {source for source, action in second.items() if action == "skip"} >= copied
    shown = open_sheet(browser, tmp_path / "second.html", tmp_path / "second.png")
    assert set(shown["requests"]) == {(tmp_path / "second.html").as_uri()}
    skipped = sum(action == "skip" for action in second.values())
    assert shown["text"].count("already archived") == skipped


def test_map_template_sheet_numbers_its_groups_like_the_csv(
    fat_card: CardFactory, samples_dir: Path, tmp_path: Path
) -> None:
    mount = fat_card(camera_card(samples_dir))
    sheet = tmp_path / "groups.html"
    done = cardingest("map-template", mount, "--gap", "5", "--sheet", sheet)
    assert done.returncode == 0, done.stderr
    comments = [line for line in done.stdout.splitlines() if line.startswith("# ")]
    parsed = Page(sheet.read_text(encoding="utf-8"))
    groups = [s["data-group"] for s in parsed.sections if s.get("data-group")]
    assert groups == [str(n) for n in range(1, len(comments) + 1)]
    assert len(parsed.figures) == len(camera_card(samples_dir))
