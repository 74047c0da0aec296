"""Fixtures of the fault suite, and the figures it writes to ``.results.json``.

Every test carries ``@pytest.mark.fault(number, title)``; its figures (kill points, damaged
inputs, consistency checks and what they found) and its outcome go into
``tests/faults/.results.json`` at the end of the session, which ``report.py`` prints.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cardimage import require

from cardingest.archive.audit import AuditLog

from .checks import Findings, Source, inspect, manifest_entries
from .helpers import (
    DEFAULT_SEED,
    PATIENT,
    SEED_ENV,
    Cli,
    cli_env,
    console_script,
    mount_tmpfs,
    reap,
    unmount,
)

RESULTS_PATH = Path(__file__).with_name(".results.json")


def seed_from_env() -> int:
    raw = os.environ.get(SEED_ENV)
    return int(raw) if raw else DEFAULT_SEED


@dataclass
class Figures:
    """What one test did and found."""

    nodeid: str
    scenario: str
    title: str
    outcome: str = "not run"
    seconds: float = 0.0
    kill_points: int = 0
    kill_phases: Counter[str] = field(default_factory=Counter)
    damaged_inputs: int = 0
    checks: int = 0
    lost: int = 0
    doubled: int = 0
    mislabelled: int = 0
    wiped_unverified: int = 0
    stray: int = 0
    problems: int = 0
    notes: list[str] = field(default_factory=list)

    def killed(self, phase: str) -> None:
        self.kill_points += 1
        self.kill_phases[phase] += 1

    def add(self, findings: Findings) -> None:
        self.checks += 1
        self.lost += len(findings.lost)
        self.doubled += len(findings.doubled)
        self.mislabelled += len(findings.mislabelled)
        self.wiped_unverified += len(findings.wiped_unverified)
        self.stray += len(findings.stray)
        self.problems += len(findings.problems)


class Results:
    def __init__(self) -> None:
        self.tests: dict[str, Figures] = {}
        self.started = time.time()
        self.seed = seed_from_env()

    def figures(self, item: pytest.Item) -> Figures:
        if item.nodeid not in self.tests:
            marker = item.get_closest_marker("fault")
            scenario, title = (str(marker.args[0]), str(marker.args[1])) if marker else ("?", "")
            self.tests[item.nodeid] = Figures(item.nodeid, scenario, title)
        return self.tests[item.nodeid]

    def document(self, exitstatus: int) -> dict[str, object]:
        return {
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "seed": self.seed,
            "seconds": round(time.time() - self.started, 1),
            "exitstatus": int(exitstatus),
            "command": " ".join(["pytest", *sys.argv[1:]]),
            "python": platform.python_version(),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
            "tests": [
                {**asdict(f), "kill_phases": dict(f.kill_phases), "seconds": round(f.seconds, 2)}
                for f in self.tests.values()
            ],
        }


RESULTS = Results()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fault(number, title): a fault-injection scenario (tests/faults)"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("fault") is not None:
        RESULTS.figures(item)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Before any fixture is finalized (cards unmounted, tmpfs removed), kill what a test
    started and left running, so it cannot keep a mount busy."""
    reap()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    figures = RESULTS.tests.get(report.nodeid)
    if figures is None:
        return
    figures.seconds += report.duration
    if report.failed:
        figures.outcome = "failed" if report.when == "call" else "error"
    elif report.skipped and figures.outcome == "not run":
        figures.outcome = "skipped"
    elif report.when == "call" and report.passed:
        figures.outcome = "passed"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    ran = [f for f in RESULTS.tests.values() if f.outcome != "not run"]
    if ran:
        RESULTS_PATH.write_text(json.dumps(RESULTS.document(exitstatus), indent=2) + "\n")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Figures:
    return RESULTS.figures(request.node)


@pytest.fixture(scope="session")
def fault_seed() -> int:
    """The suite's random seed (``CARDINGEST_FAULT_SEED``); printed in every failure."""
    return RESULTS.seed


@pytest.fixture(scope="session")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return Cli(console_script(), cli_env(tmp_path_factory.mktemp("config")))


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str, int], Path]]:
    """``tmpfs(name, size_mb)`` mounts a tmpfs of that size under tmp_path; unmounted after."""
    mounted: list[Path] = []

    def make(name: str, size_mb: int) -> Path:
        require(os.geteuid() == 0, "mounting a tmpfs needs root")
        path = tmp_path / name
        path.mkdir()
        done = mount_tmpfs(path, size_mb)
        require(done.returncode == 0, f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    try:
        yield make
    finally:
        for path in reversed(mounted):
            unmount(path)


class Checker:
    """Runs `checks.inspect` plus the audit chain check and, in a final check with nothing
    tampered, ``sha256sum -c`` of every manifest; records the figures and asserts.

    A final check runs ``cardingest audit``; a check right after a kill runs the same
    `AuditLog.check` in-process (it is only cheaper).
    """

    def __init__(self, cli: Cli, figures: Figures, seed: int, nodeid: str) -> None:
        self.cli = cli
        self.figures = figures
        self.seed = seed
        self.nodeid = nodeid

    def __call__(
        self,
        archive: Path,
        sources: Sequence[Source],
        *,
        backup: Path | None = None,
        tampered: Iterable[str] = (),
        final: bool = True,
        context: str = "",
    ) -> Findings:
        tampered = tuple(tampered)
        findings = inspect(archive, sources, backup=backup, tampered=tampered, final=final)
        if archive.exists():
            self._audit(archive, findings, final)
            if final and not tampered:
                self._coreutils(archive, findings)
                if backup is not None:
                    self._coreutils(backup, findings)
        self.figures.add(findings)
        where = f"{context} [seed {self.seed}: replay with {_replay(self.seed, self.nodeid)}]"
        assert findings.clean, findings.report(where)
        return findings

    def rerun(self, source: Source, archive: Path, context: str) -> Findings:
        """The same one-patient ingest again: it must finish with every photo archived."""
        done = self.cli.run("ingest", source.root, "--id", PATIENT, "--archive", archive, "--json")
        assert done.returncode == 0, f"{context}: {done.stderr[-2000:]}"
        findings = self(archive, [source], context=context)
        assert findings.archived == len(source.photos), context
        return findings

    def _audit(self, archive: Path, findings: Findings, final: bool) -> None:
        """``cardingest audit`` in a final check; the same code in-process in between."""
        if not final:
            result = AuditLog(archive).check()
            if not result.ok:
                findings.problems.append(f"audit chain broken: {result.problem}")
            return
        done = self.cli.run("audit", "--archive", archive, "--json", timeout=120)
        if done.returncode != 0:
            findings.problems.append(f"cardingest audit exited {done.returncode}: {done.stdout}")

    @staticmethod
    def _coreutils(root: Path, findings: Findings) -> None:
        names = sorted({name for name, _d, _p in manifest_entries(root)})
        for name in names:
            done = subprocess.run(
                ["sha256sum", "--quiet", "-c", f".cardingest/manifests/{name}"],
                cwd=root,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                findings.problems.append(f"sha256sum -c {name}: {done.stdout}{done.stderr}")


def _replay(seed: int, nodeid: str) -> str:
    return f"{SEED_ENV}={seed} pytest '{nodeid}'"


@pytest.fixture
def check(cli: Cli, figures: Figures, fault_seed: int, request: pytest.FixtureRequest) -> Checker:
    return Checker(cli, figures, fault_seed, request.node.nodeid)
