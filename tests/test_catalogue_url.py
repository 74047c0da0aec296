"""A catalogue URL's password never reaches a message, however the URL is mistyped or
wherever in it the password stands (user info, ``?password=``), a URL that cannot be read is
input to fix (exit 2), not a traceback, and so is a libpq key=value connection string, which
is not repeated. No server is needed: the socket folder does not exist."""

from __future__ import annotations

import socket
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from badinput_helpers import cardingest

from cardingest.archive.backend import redact, scrubbed

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


@pytest.mark.parametrize(
    ("url", "secret", "why"),
    [
        ("postgresql://desk:Pass9word@ho st/db", "Pass9word", 'unexpected spaces found in "ho st"'),
        ("postgresql://desk:S3c@Ret7x:PW9@127.0.0.1/db", "Ret7x", "is percent-encoded"),
        ("postgresql://desk:S3c@Ret8y@127.0.0.1/db", "Ret8y", "is percent-encoded"),
        ("postgresql://desk:S3cret%zz@127.0.0.1/db", "S3cret", "is percent-encoded"),
        ("postgresql://desk:Pass9word@127.0.0.1:65536/db", "Pass9word", "port '65536' is not"),
        ("postgresql://desk:Pass9word@127.0.0.1/db?sslmod=off", "Pass9word", '"sslmod"'),
    ],
    ids=["space", "unescaped-at-colon", "unescaped-at", "bad-percent", "port", "unknown-key"],
)
def test_a_url_libpq_cannot_use_as_given_is_exit_2_without_its_password(
    tmp_path: Path, url: str, secret: str, why: str
) -> None:
    """Malformed, not a server that does not answer (exit 1): input to fix, where it was
    given, before anything is done."""
    ran = cardingest("search", "--archive", tmp_path, "--catalogue", url, "--json", home=tmp_path)
    assert ran.code == 2, ran.stderr
    said = ran.json()["error"]["message"]
    assert said.startswith("--catalogue: the catalogue URL postgresql://desk:***@"), said
    assert why in said and secret not in said and secret not in ran.stderr
    assert not (tmp_path / ".cardingest").exists()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql:/cardingest_desk:Sec9ret@127.0.0.1/clinic_photos",
        "postgresql:desk:Sec9ret@127.0.0.1/x",
        "postgresql//desk:Sec9ret@127.0.0.1/x",
        "postgresql:\\\\desk:Sec9ret@127.0.0.1/x",
        "postgresql:/x?password=Sec9ret",
        "postgresql://desk:Sec9ret:127.0.0.1:1/x",
        "postgresql://desk:Sec9ret/x",
        "postgresql://desk;Sec9ret@127.0.0.1/x",
        "postgresql://127.0.0.1/x?password:Sec9ret",
        "postgresql://desk:Sec9ret 127.0.0.1/x",
        "desk:Sec9ret@127.0.0.1/x",
        "//desk:Sec9ret@127.0.0.1/x",
        "postgresql://127.0.0.1/x password=Sec9ret",
        "postgresql://127.0.0.1/x#password=Sec9ret",
        "postgresql://127.0.0.1/x?pwd=Sec9ret",
        "postgresql://127.0.0.1/x?password%3DSec9ret",
        "postgresql://[desk:Sec9ret]@127.0.0.1/x",
        "postgresql://desk%3ASec9ret@127.0.0.1/x",
    ],
    ids=["one-slash", "no-slashes", "no-colon", "backslashes", "query", "no-at", "no-at-host",
         "semicolon", "query-colon", "space", "no-scheme", "slashes-only", "space-for-?",
         "fragment", "pwd", "encoded-=", "brackets", "encoded-colon"],
)  # fmt: skip
@pytest.mark.parametrize("given", ["option", "config", "environment"])
def test_a_url_mistyped_keeps_its_password_out_of_every_message(
    tmp_path: Path, url: str, given: str
) -> None:
    """The password was shown for a URL mistyped (its ``://``, its ``@`` left out, a ``;``
    for its ``:``, a ``:`` for a query's ``=``, a space): the message quoted the URL, and
    libpq's own ("missing "=" after …", "port '…' is not a number") quoted it again."""
    args: tuple[str, ...] = ()
    env: dict[str, str] = {}
    if given == "option":
        args = ("--catalogue", url)
    elif given == "config":
        config = tmp_path / "config.toml"
        config.write_text(f"catalogue = {url!r}\n", encoding="utf-8")
        config.chmod(0o600)
        env = {"CARDINGEST_CONFIG": str(config)}
    else:
        env = {"CARDINGEST_CATALOGUE": url}
    ran = cardingest("search", "--archive", tmp_path, *args, "--json", home=tmp_path, env=env)
    assert ran.code in (1, 2), ran.stderr
    assert "Sec9ret" not in ran.stderr and "Sec9ret" not in ran.text, ran.stderr
    said = ran.json()["error"]["message"]
    assert "***" in said or "could not be used as given" in said, ran.stderr


def test_a_good_password_leaves_the_drivers_reason_to_be_read(tmp_path: Path) -> None:
    url = f"postgresql://cardingest_desk:Plain1Secret{NOWHERE}"
    ran = cardingest("search", "--archive", tmp_path, "--catalogue", url, home=tmp_path)
    assert ran.code == 1
    assert "Plain1Secret" not in ran.stderr
    assert "cardingest_desk:***@" in ran.stderr and "No such file or directory" in ran.stderr


def test_a_url_of_several_hosts_says_why_each_could_not_be_reached(tmp_path: Path) -> None:
    """psycopg's error's first line names only the last host tried."""
    ports = []
    for _ in range(2):
        with closing(socket.socket()) as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    url = f"postgresql://desk:Pw9secret@127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}/db"
    ran = cardingest("search", "--archive", tmp_path, "--catalogue", url, "--json", home=tmp_path)
    assert ran.code == 1, ran.stderr
    said = ran.json()["error"]["message"]
    for port in ports:
        assert f'connection to server at "127.0.0.1", port {port} failed' in said, said
    assert "Pw9secret" not in ran.text and "\t" not in said


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://localhost:5999/db?application_name=a:b", "application_name=a:b"),
        ("postgresql://[fe80::1%25lo]:5999/db", "postgresql://[fe80::1%25lo]:5999/db"),
        ("postgresql://h1:5432,h2:5433/db", "postgresql://h1:5432,h2:5433/db"),
    ],
)
def test_a_url_with_no_password_is_shown_as_given(tmp_path: Path, url: str, shown: str) -> None:
    """`:b:` came out as an emoji (Rich's), and an IPv6 zone as a password."""
    ran = cardingest("search", "--archive", tmp_path, "--catalogue", url, home=tmp_path)
    assert shown in " ".join(ran.stderr.split()) and "***" not in ran.stderr, ran.stderr


def test_a_url_that_cannot_be_read_is_exit_2(tmp_path: Path) -> None:
    url = "postgresql://u:Secret9@[::1/clinic_photos"
    ran = cardingest("search", "--archive", tmp_path, "--catalogue", url, home=tmp_path)
    assert ran.code == 2
    assert "the catalogue URL cannot be read (Invalid IPv6 URL)" in ran.stderr
    assert "Secret9" not in ran.stderr


@pytest.mark.parametrize(
    ("query", "secret", "code"),
    [
        ("&password=SeCrEt3&sslmode=disable", "SeCrEt3", 1),
        # libpq's keys are lower-case: an unknown one is a URL to fix; masked all the same
        ("&PassWord=Upper5Case", "Upper5Case", 2),
        ("&pass%77ord=Encoded7Key", "Encoded7Key", 1),  # libpq decodes a key as a value
        ("&sslpassword=Key8Phrase", "Key8Phrase", 1),  # the client key's password
        ("&password=p%40ss9Word", "ss9Word", 1),
    ],
    ids=["password", "upper-case", "encoded-key", "sslpassword", "encoded-value"],
)
def test_a_password_in_the_query_is_not_repeated(
    tmp_path: Path, query: str, secret: str, code: int
) -> None:
    url = f"postgresql://cardingest_desk{NOWHERE}{query}"
    ran = cardingest("search", "--archive", tmp_path, "--catalogue", url, "--json", home=tmp_path)
    assert ran.code == code
    assert secret not in ran.stderr and secret not in ran.text
    assert "=***" in ran.json()["error"]["message"]


@pytest.mark.parametrize(
    "conninfo",
    [
        "host=127.0.0.1 user=cardingest_desk password=SeCrEt3 dbname=clinic_photos",
        "host=127.0.0.1 password = 'a SeCrEt3 \\' b' dbname=clinic_photos",
        "  dbname=clinic_photos password=SeCrEt3",
        "dbname=postgresql://cardingest_desk:SeCrEt3@db.clinic.local/clinic_photos",
    ],
    ids=["bare", "quoted", "leading-space", "uri-as-dbname"],
)
def test_a_key_value_connection_string_is_refused_without_its_password(
    tmp_path: Path, conninfo: str
) -> None:
    """The catalogue is a URL; a libpq key=value string is input to fix, and not repeated."""
    config = tmp_path / "config.toml"
    config.write_text(f'catalogue = "{conninfo.replace(chr(92), chr(92) * 2)}"\n', "utf-8")
    runs = [
        cardingest("search", "--archive", tmp_path, "--catalogue", conninfo, home=tmp_path),
        cardingest(
            "search", "--archive", tmp_path, home=tmp_path, env={"CARDINGEST_CATALOGUE": conninfo}
        ),
        cardingest(
            "search", "--archive", tmp_path, home=tmp_path, env={"CARDINGEST_CONFIG": str(config)}
        ),
        cardingest("catalogue", "migrate", "--to", conninfo, "--json", home=tmp_path),
    ]
    for ran in runs:
        assert ran.code == 2, ran.stderr
        assert "SeCrEt3" not in ran.stderr and "SeCrEt3" not in ran.text
        assert "not a key=value connection string" in ran.stderr + ran.text
        assert "postgresql://USER:PASSWORD@HOST:PORT/DATABASE" in ran.stderr + ran.text


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (
            "postgresql://u@127.0.0.1:55432/db?password=X9&sslmode=disable",
            "postgresql://u@127.0.0.1:55432/db?password=***&sslmode=disable",
        ),
        ("postgresql://u:pw@h/db?PASSWORD=X9", "postgresql://u:***@h/db?PASSWORD=***"),
        ("postgres://h/db?pass%77ord=X9", "postgres://h/db?pass%77ord=***"),
        ("postgresql://h/db?sslpassword=X9&user=u", "postgresql://h/db?sslpassword=***&user=u"),
        ("postgresql://h/db?sslmode=disable", "postgresql://h/db?sslmode=disable"),
        ("postgresql://u:Pass?word=7@h/db", "postgresql://u:***@h/db"),
        # A trial: a mistyped key (libpq refuses it) showed the password in the message.
        (
            "postgresql://d@h/db?passwrd=X9&sslmode=disable",
            "postgresql://d@h/db?passwrd=***&sslmode=disable",
        ),
        ("postgresql://d@h/db?pw=X9", "postgresql://d@h/db?pw=***"),
        ("host=h user=d password=X9", "host=h user=d password=***"),
        ("host=h password = 'a X9\\' b' user=d", "host=h password = *** user=d"),
        ("password='unterminated X9", "password=***"),
        ("host=h sslpassword=X9", "host=h sslpassword=***"),
        ("mysql://u:X9@h/db", "mysql://u:***@h/db"),
    ],
)
def test_redact_masks_every_password_a_url_or_connection_string_holds(
    given: str, shown: str
) -> None:
    assert redact(given) == shown
    assert "X9" not in redact(given)


def test_a_url_with_a_mistyped_password_key_is_refused_without_showing_it(
    tmp_path: Path,
) -> None:
    url = "postgresql://cardingest_desk@127.0.0.1:55504/clinic_photos?passwrd=DeskSecret99"
    ran = cardingest("search", "--json", "--catalogue", url, "--archive", tmp_path, home=tmp_path)
    assert ran.code == 2 and '"passwrd"' in ran.stderr, ran.stderr
    assert "DeskSecret99" not in ran.text + ran.stderr


def test_scrubbed_hides_a_driver_message_that_quotes_a_query_password() -> None:
    url = "postgresql://u@h/db?password=Open%zzSesame"
    assert "Sesame" not in scrubbed('invalid percent-encoded token: "Open%zzSesame"', url)
    assert scrubbed("connection refused", url) == "connection refused"


def test_a_short_password_is_looked_for_as_a_word_of_its_own() -> None:
    """A password of one letter (``d``) is in every message: every reason was taken for one
    showing it ("the URL could not be used as given …"), even "Connection refused" when
    the server stopped. Short pieces are looked for as words of their own; longer ones
    anywhere, as before."""
    refused = 'connection to server at "127.0.0.1", port 5432 failed: Connection refused'
    assert scrubbed(refused, "postgresql://desk:d@127.0.0.1/db") == refused
    assert scrubbed(refused, "postgresql://desk:ab1@127.0.0.1/db") == refused
    assert "pw" not in scrubbed('missing "=" after "u:pw@h" in connection info', "u:pw@h/db")
    assert "Sesam" not in scrubbed("xOpenSesamx", "postgresql://u:OpenSesam@h/db")


def test_a_migration_marker_an_older_version_stored_with_its_password_is_not_shown(
    tmp_path: Path,
) -> None:
    """Before the query's password was masked, the marker kept it: it is masked when read."""
    meta = tmp_path / "archive" / ".cardingest"
    meta.mkdir(parents=True)
    with closing(sqlite3.connect(meta / "catalogue.sqlite")) as conn, conn:
        conn.execute("CREATE TABLE migrated_to (url TEXT, archive_id TEXT, at TEXT)")
        conn.execute(
            "INSERT INTO migrated_to VALUES (?, 'a1', '2026-01-01T00:00:00+00:00')",
            ("postgresql://desk@db.clinic.local/clinic_photos?password=Old7Secret",),
        )
    ran = cardingest("search", "--archive", meta.parent, home=tmp_path)
    assert ran.code == 2 and "has moved to PostgreSQL" in ran.stderr, ran.stderr
    assert "Old7Secret" not in ran.stderr and "clinic_photos?password=***" in ran.stderr


@pytest.mark.parametrize("how", ["0666", "0620", "nobody's", "folder 0777"])
def test_a_config_file_other_accounts_can_change_is_warned_about(tmp_path: Path, how: str) -> None:
    """The config says where photos go (a PACS's stow_url, the archive, the catalogue):
    another account that could change it sent a patient's photos to its own server, and
    nothing was said (an outside tester's report)."""
    import os

    folder = tmp_path / "conf"
    folder.mkdir()
    config = folder / "config.toml"
    config.write_text("gap_minutes = 5\n", encoding="utf-8")
    config.chmod(0o644)
    assert "warning" not in cardingest("search", "--archive", tmp_path, home=tmp_path,
                                       env={"CARDINGEST_CONFIG": str(config)}).stderr  # fmt: skip
    if how == "nobody's":
        if os.geteuid() != 0:
            pytest.skip("needs root to give the file to another account")
        os.chown(config, 65534, 65534)
    elif how == "folder 0777":
        folder.chmod(0o777)
    else:
        config.chmod(int(how, 8))
    ran = cardingest("search", "--archive", tmp_path, "--json", home=tmp_path,
                     env={"CARDINGEST_CONFIG": str(config)})  # fmt: skip
    said = " ".join(ran.stderr.split())
    assert f"warning: config file {config} " in said, said
    assert "so whoever can change it can send patient data elsewhere" in said
    ran.json()  # stdout stays one JSON document
    quiet = cardingest("search", "--archive", tmp_path, home=tmp_path,
                       env={"CARDINGEST_CONFIG": "/dev/null"})  # fmt: skip
    assert "config file" not in quiet.stderr  # no settings (0666, but nothing to change)


def test_a_config_fifo_of_another_account_is_warned_about_and_dev_null_is_not(
    tmp_path: Path,
) -> None:
    """The first way round /dev/null (a device, 0666) passed over every file that was not
    a regular one, so a named pipe another account fed was read without a word."""
    import os

    from cardingest.cli.config import _config_open

    if os.geteuid() != 0:
        pytest.skip("needs root to give the pipe to another account")
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo, 0o644)
    os.chown(fifo, 65534, 65534)
    said = _config_open(fifo)
    assert said is not None and "belongs to the account nobody" in said
    assert _config_open(Path("/dev/null")) is None


def test_a_password_other_accounts_can_read_is_warned_about(tmp_path: Path) -> None:
    """A password on the command line is in ``ps`` for every account while the command runs;
    one in a config file that others may read is theirs too. Each is said on stderr, never
    the password itself; a URL without one, from a 0600 config or the environment, says
    nothing."""
    with_password = f"postgresql://cardingest_desk:Se9cretPW{NOWHERE}"
    ran = cardingest("search", "--archive", tmp_path, "--catalogue", with_password, home=tmp_path)
    said = " ".join(ran.stderr.split())
    assert "warning: the --catalogue URL holds a password, which every account" in said
    assert "Se9cretPW" not in ran.stderr + ran.text
    for args in (
        ["search", "--catalogue", "host=/nowhere password=Se9cretPW"],  # refused, exit 2
        ["catalogue", "migrate", "--to", with_password],  # the owner's password
    ):
        ran = cardingest(*args, "--archive", tmp_path, home=tmp_path)
        assert " URL holds a password, which every account" in " ".join(ran.stderr.split())
        assert "Se9cretPW" not in ran.stderr + ran.text
    config = tmp_path / ".config" / "cardingest" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'catalogue = "{with_password}"\n', encoding="utf-8")
    config.chmod(0o644)
    ran = cardingest("search", "--archive", tmp_path, "--json", home=tmp_path)
    said = " ".join(ran.stderr.split())
    assert (
        f"warning: config file {config} holds a password (catalogue) and other accounts may "
        f"read it (mode 0644): chmod 600 {config}"
    ) in said
    assert "Se9cretPW" not in ran.stderr + ran.text
    ran.json()  # stdout stays one JSON document
    config.chmod(0o600)
    assert "warning" not in cardingest("search", "--archive", tmp_path, home=tmp_path).stderr
    quiet = cardingest(
        "search", "--archive", tmp_path, home=tmp_path, env={"CARDINGEST_CATALOGUE": with_password}
    )
    assert "warning" not in quiet.stderr
    config.write_text(f'catalogue = "postgresql://cardingest_desk{NOWHERE}"\n', encoding="utf-8")
    config.chmod(0o644)
    assert "warning" not in cardingest("search", "--archive", tmp_path, home=tmp_path).stderr
    config.write_text(
        '[pacs]\nstow_url = "https://orthanc:Pw7secret@127.0.0.1:1/dicom-web"\n', encoding="utf-8"
    )
    ran = cardingest("search", "--archive", tmp_path, home=tmp_path)
    assert "holds a password ([pacs] stow_url) and other accounts may read it" in ran.stderr
    assert "Pw7secret" not in ran.stderr + ran.text


def test_an_empty_catalogue_option_is_exit_2_not_sqlite(tmp_path: Path) -> None:
    """A trial: `ingest … --catalogue ""` (a script's unset variable) made a SQLite archive,
    where the desk meant the clinic's PostgreSQL one."""
    card = tmp_path / "card" / "DCIM" / "100CANON"
    card.mkdir(parents=True)
    archive = tmp_path / "archive"
    ran = cardingest("ingest", card.parent.parent, "--id", "JBX3656", "--archive", archive,
                     "--catalogue", "", home=tmp_path)  # fmt: skip
    assert ran.code == 2 and "--catalogue: catalogue must be a postgresql:// URL" in ran.stderr
    assert not archive.exists()
    # The same for $CARDINGEST_CATALOGUE set but empty, and `catalogue = ""` in the config.
    ran = cardingest("ingest", card.parent.parent, "--id", "JBX3656", "--archive", archive,
                     home=tmp_path, env={"CARDINGEST_CATALOGUE": ""})  # fmt: skip
    assert ran.code == 2 and "$CARDINGEST_CATALOGUE: catalogue must be" in ran.stderr
    config = tmp_path / "config.toml"
    config.write_text('catalogue = ""\n', encoding="utf-8")
    ran = cardingest("ingest", card.parent.parent, "--id", "JBX3656", "--archive", archive,
                     home=tmp_path, env={"CARDINGEST_CONFIG": str(config)})  # fmt: skip
    assert ran.code == 2 and "catalogue must be a postgresql:// URL" in ran.stderr
    assert not archive.exists()


def test_a_service_no_pg_service_file_defines_is_for_the_user_to_fix(tmp_path: Path) -> None:
    """A trial: `?service=nosuch` was exit 1, "Cannot reach … Check the server", though no
    server was asked: libpq refused the setting."""
    url = "postgresql://desk@127.0.0.1:1/db?service=nosuch"
    ran = cardingest("search", "--archive", tmp_path, "--catalogue", url, home=tmp_path)
    said = " ".join(ran.stderr.split())
    assert ran.code == 2 and 'definition of service "nosuch" not found' in said, said
    assert "is not right" in said and "Check the server" not in said
