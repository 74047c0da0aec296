"""A catalogue URL's password never reaches a message, however the URL is mistyped, and a
URL that cannot be read is input to fix (exit 2), not a traceback. No server is needed: the
socket folder does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from badinput_helpers import cardingest

NOWHERE = "@/clinic_photos?host=/nonexistent-socket-folder"


@pytest.mark.parametrize(
    ("userinfo", "secret"),
    [
        ("cardingest_desk:S3cret%zzDeskPW", "zzDeskPW"),  # not valid percent-encoding
        ("cardingest_desk:S3cret@Desk:PW", "Desk"),  # an unescaped @ and :
        ("cardingest_desk:Sec#ret9Word", "ret9Word"),  # urlsplit ends the host at #
        ("cardingest_desk:Pass?word7", "word7"),  # and at ?
    ],
    ids=["bad-percent", "unescaped-at", "unescaped-hash", "unescaped-question-mark"],
)
def test_a_mistyped_password_is_not_repeated(tmp_path: Path, userinfo: str, secret: str) -> None:
    url = f"postgresql://{userinfo}{NOWHERE}"
    ran = cardingest("search", "--archive", tmp_path, "--catalogue", url, "--json", home=tmp_path)
    assert ran.code in (1, 2)
    assert secret not in ran.stderr and secret not in ran.text
    assert "cardingest_desk:***@" in ran.json()["error"]["message"]


def test_a_good_password_leaves_the_drivers_reason_to_be_read(tmp_path: Path) -> None:
    url = f"postgresql://cardingest_desk:Plain1Secret{NOWHERE}"
    ran = cardingest("search", "--archive", tmp_path, "--catalogue", url, home=tmp_path)
    assert ran.code == 1
    assert "Plain1Secret" not in ran.stderr
    assert "cardingest_desk:***@" in ran.stderr and "No such file or directory" in ran.stderr


def test_a_url_that_cannot_be_read_is_exit_2(tmp_path: Path) -> None:
    url = "postgresql://u:Secret9@[::1/clinic_photos"
    ran = cardingest("search", "--archive", tmp_path, "--catalogue", url, home=tmp_path)
    assert ran.code == 2
    assert "the catalogue URL cannot be read (Invalid IPv6 URL)" in ran.stderr
    assert "Secret9" not in ran.stderr
