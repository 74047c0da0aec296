"""The architecture, checked: the pipeline's layers import only downwards, the CLI framework
stays in ``cli/``, and every durable write goes through ``storage.durable``."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "cardingest"

LAYERS: dict[str, int] = {
    "errors": 0,
    "models": 0,
    "ids": 0,
    "idtext": 0,
    "text": 0,
    "host": 0,
    "storage": 1,
    "card": 2,
    "plan": 3,
    "archive": 4,
    "clinic": 5,
    "review": 5,
    "export": 5,
    "prepare": 6,
    "ingest": 6,
    "wipe": 6,
    "move": 6,
    "abandon": 6,
    "demo": 6,
    "cli": 7,
}
"""Rank of each top-level module or package: a module may import its own rank or lower.
Use cases (prepare, ingest, wipe, move, abandon) sit above the stages they drive; the CLI on top."""


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts != ("__init__",):
            yield ".".join(parts), path


def imported(module: str, path: Path) -> Iterator[str]:
    """Top-level cardingest names this module imports (``storage``, ``errors``...)."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
                if target:
                    yield target[0]
                else:  # from .. import ingest, wipe
                    yield from (alias.name for alias in node.names)
            elif node.module and node.module.startswith("cardingest."):
                yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("cardingest."):
                    yield alias.name.split(".")[1]


def third_party(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


ALL = list(modules())


def test_every_top_level_module_has_a_layer() -> None:
    tops = {module.split(".")[0] for module, _ in ALL} - {"__main__"}
    assert tops <= set(LAYERS), f"give these a layer in LAYERS: {sorted(tops - set(LAYERS))}"


@pytest.mark.parametrize(("module", "path"), ALL, ids=[m for m, _ in ALL])
def test_imports_only_downwards(module: str, path: Path) -> None:
    own = LAYERS[module.split(".")[0]]
    upward = sorted(
        name for name in set(imported(module, path)) if name in LAYERS and LAYERS[name] > own
    )
    assert not upward, f"{module} imports from a layer above it: {upward}"


@pytest.mark.parametrize(("module", "path"), ALL, ids=[m for m, _ in ALL])
def test_only_the_cli_imports_typer_or_rich(module: str, path: Path) -> None:
    if module.split(".")[0] != "cli":
        assert not third_party(path) & {"typer", "rich", "click"}, module


def test_durable_writes_go_through_storage_durable() -> None:
    """``os.fsync`` appears once, in ``sync_file`` (which adds F_FULLFSYNC on macOS)."""
    callers = [
        module
        for module, path in ALL
        if "os.fsync(" in path.read_text(encoding="utf-8") and module != "storage.durable"
    ]
    assert not callers, f"use storage.durable.sync_file in {callers}"


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """`cardingest --help`, `cards` and every other command pay at start-up only for what
    they all need: Pillow, zxing-cpp, pydicom, pynetdicom and psycopg load in the commands
    that use them (slates, sheets, share, DICOM, PostgreSQL)."""
    script = (
        "import sys, cardingest.cli.app\n"
        "heavy = ('PIL', 'zxingcpp', 'pydicom', 'pynetdicom', 'psycopg')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def run_main(args: list[str], report: str, setup: str = "") -> subprocess.CompletedProcess[str]:
    """``cardingest ARGS`` through `cli.main` in a fresh interpreter: ``setup`` (Python) runs
    first, ``report`` after, with the exit code in ``code``."""
    script = (
        "import sys\n"
        f"{setup}"
        "from cardingest.cli import main\n"
        f"sys.argv = ['cardingest', *{args!r}]\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as done:\n"
        "    code = done.code\n"
        f"{report}\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


@pytest.mark.parametrize("command", ["preview", "ingest"])
def test_a_json_run_never_imports_rich(tmp_path: Path, test_ids: Path, command: str) -> None:
    """Scripts get JSON and nothing else: Rich (consoles, tables, progress bars) is for
    people, and loads only when something is shown to one."""
    from cardingest.demo import make_demo_card

    card, map_file = make_demo_card(tmp_path)
    args = [command, str(card), "--map", str(map_file), "--archive", str(tmp_path / "a")]
    done = run_main([*args, "--json"], "print('rich' in sys.modules, code, file=sys.stderr)")
    assert done.stdout.startswith("{"), done.stderr
    assert done.stderr.split()[-2:] in (["False", "0"], ["False", "3"]), done.stderr


NOT_AT_START_UP = (
    "cardingest.ingest",
    "cardingest.wipe",
    "cardingest.move",
    "cardingest.demo",
    "cardingest.archive.audit",
    "cardingest.archive.auditrepair",
    "cardingest.archive.catalogue",
    "cardingest.archive.lock",
    "cardingest.archive.manifest",
    "cardingest.archive.migrate",
    "cardingest.archive.permissions",
    "cardingest.archive.repair",
    "cardingest.archive.verify",
    "cardingest.archive.xmp",
    "cardingest.card.slate",
    "cardingest.card.watch",
    "cardingest.clinic",
    "cardingest.plan.assign",
    "cardingest.plan.slate_template",
    "cardingest.plan.template",
    "cardingest.review.sheet",
    "cardingest.storage.durable",
    "cardingest.storage.transfer",
    "cardingest.cli.clinic",
    "cardingest.cli.session",
    "cardingest.cli.verify",
    "cardingest.cli.wipe",
    "concurrent.futures",
    "sqlite3",
    "tempfile",
    "xxhash",
)
"""Loaded only by the commands that use them: the copy, the lock and the catalogue, the wipe,
the contact sheet, the slate reader, the clinic commands; SQLite for an existing catalogue."""
FOR_A_PLAN = ("cardingest.prepare", "cardingest.plan.idmap", "cardingest.plan.planner", "hashlib")
FOR_A_CARD = ("cardingest.card.detect", "cardingest.card.scan", "psutil")
CARD_READER = ("cardingest.card.scan", "cardingest.card.capture", "cardingest.card.raw")
"""`cards` lists the cards and counts their photos by name: it reads no capture time."""
MOUNT_TABLE = ("psutil",) if os.path.exists("/proc/self/mounts") else ()
"""Where the kernel lists the mounts, they are read without psutil (`storage.mounts`)."""


@pytest.mark.parametrize("command", ["preview", "cards", "--help"])
def test_a_command_imports_only_what_it_needs(tmp_path: Path, test_ids: Path, command: str) -> None:
    """A preview of a card for a new archive, `cards` and `--help` start and run without the
    modules above (each loaded where it is used, in the command or function that needs it);
    `cards` also without the planner and the card reader, `--help` without either. A
    top-level import of one of them, anywhere on the way, fails this test."""
    from cardingest.demo import make_demo_card

    card, map_file = make_demo_card(tmp_path)
    args = {
        "preview": [
            *("preview", str(card), "--map", str(map_file)),
            *("--archive", str(tmp_path / "a"), "--json"),
        ],
        "cards": ["cards", "--json"],
        "--help": ["--help"],
    }[command]
    unwanted = {
        # logging comes with exifread: a demo photo has no EXIF
        "preview": (*NOT_AT_START_UP, *MOUNT_TABLE),
        "cards": (*NOT_AT_START_UP, "logging", *FOR_A_PLAN, *MOUNT_TABLE, *CARD_READER),
        "--help": (*NOT_AT_START_UP, "logging", *FOR_A_PLAN, *FOR_A_CARD),
    }[command]
    report = (
        f"loaded = sorted(m for m in {unwanted!r} if m in sys.modules)\n"
        "print(code, *loaded, file=sys.stderr)"
    )
    done = run_main(args, report)
    assert done.stdout, done.stderr
    assert done.stderr.split("\n")[-2].split() in (["0"], ["3"]), done.stderr


def test_a_run_builds_only_the_command_it_runs(tmp_path: Path, test_ids: Path) -> None:
    """Typer turns every command's parameters into options on each run, unless `main` hands
    it only the one named (`cli.app.only`); `tests/test_docs.py` checks that its help and
    errors stay the same."""
    from cardingest.demo import make_demo_card

    card, map_file = make_demo_card(tmp_path)
    args = ["preview", str(card), "--map", str(map_file), "--archive", str(tmp_path / "a")]
    counting = (
        "import typer.main\n"
        "built = []\n"
        "build = typer.main.get_command_from_info\n"
        "def counted(*args, **kwargs):\n"
        "    command = build(*args, **kwargs)\n"
        "    built.append(command.name)\n"
        "    return command\n"
        "typer.main.get_command_from_info = counted\n"
    )
    done = run_main([*args, "--json"], "print(code, *built, file=sys.stderr)", counting)
    assert done.stdout.startswith("{"), done.stderr
    assert done.stderr.split("\n")[-2].split()[1:] == ["preview"], done.stderr
