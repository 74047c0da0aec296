#!/usr/bin/env python3
"""Mutation testing of the safety-critical modules, on demand (not part of CI).

    python tools/mutate.py ids plan/naming          # some modules
    python tools/mutate.py --all                    # every module in MODULES
    python tools/mutate.py --list                   # the modules and their tests
    python tools/mutate.py ids --show               # diffs of the surviving mutants

Each module is mutated by mutmut (3.x) in its own scratch copy of the project under
``.mutation/<module>/`` (git-ignored), against a focused subset of the fast tests (MODULES
below), so one module takes minutes, not the whole suite's time per mutant. ``PYTHONPATH``
points at the mutated sources, so tests that run the real ``cardingest`` CLI in a subprocess
run the mutant too. The summary line per module is what docs/testing.md reports.

Needs ``pip install mutmut`` (the ``mutation`` extra). ``--jobs`` defaults to 1: the machine's
cores are shared; raise it on your own.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"

MODULES: dict[str, list[str]] = {
    "ids": ["tests/test_ids.py", "tests/test_nhi_vectors.py", "tests/test_id_messages.py"],
    "plan/naming": [
        "tests/test_plan.py",
        "tests/test_naming_order.py",
        "tests/test_naming_rules.py",
    ],
    "plan/planner": [
        "tests/test_plan.py",
        "tests/test_naming_order.py",
        "tests/test_plan_items.py",
        "tests/test_plan_edges.py",
        "tests/test_planner_holds.py",
        "tests/test_slates.py",
        "tests/test_slates_cli.py",
        "tests/test_bad_names.py",
        "tests/test_other_patient.py",
        "tests/test_interactive.py",
        "tests/test_no_correction.py",
        "tests/test_idmap.py",
    ],
    "plan/shots": [
        "tests/test_plan.py",
        "tests/test_naming_order.py",
        "tests/test_slates.py",
    ],
    "archive/audit": [
        "tests/test_audit.py",
        "tests/test_audit_forgery.py",
        "tests/test_audit_cli.py",
        "tests/test_audit_rules.py",
    ],
    "archive/manifest": [
        "tests/test_manifest.py",
        "tests/test_manifest_scope.py",
        "tests/test_manifest_rules.py",
    ],
    "archive/verify": [
        "tests/test_verify.py",
        "tests/test_verify_rules.py",
        "tests/test_verify_mutants.py",
        "tests/test_verify_everything.py",
    ],
    "archive/catalogue": ["tests/test_catalogue.py"],
    "card/capture": [
        "tests/test_capture.py",
        "tests/test_exif_quick.py",
        "tests/test_capture_order.py",
        "tests/test_capture_rules.py",
        "tests/test_capture_paths.py",
        "tests/test_capture_mutants.py",
        "tests/test_raw_capture.py",
    ],
    "storage/transfer": ["tests/test_transfer.py", "tests/test_readback.py"],
    "wipe": ["tests/test_wipe.py"],
}

KILLED = {1, 3, 36, 24, -24, 152, 255, 37}
SURVIVED = {0}


def _config(module: str, tests: list[str]) -> str:
    return (
        "\n[tool.mutmut]\n"
        f'only_mutate = ["src/cardingest/{module}.py"]\n'
        'source_paths = ["src"]\n'
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-q", "-p", "no:cacheprovider", "-x"]\n'
        "timeout_multiplier = 10.0\n"
        "timeout_constant = 10.0\n"
        "use_git_change_detection = false\n"
    )


def _prepare(module: str, tests: list[str]) -> Path:
    work = WORK / module.replace("/", "-")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(ROOT / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__", "faults")
    )
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (work / "pyproject.toml").write_text(text + _config(module, tests), encoding="utf-8")
    return work


def _scores(work: Path) -> tuple[Counter[str], list[str]]:
    counts: Counter[str] = Counter()
    survivors: list[str] = []
    for meta in sorted((work / "mutants").rglob("*.meta")):
        data = json.loads(meta.read_text(encoding="utf-8"))
        for name, code in sorted(data.get("exit_code_by_key", {}).items()):
            if code in KILLED:
                counts["killed"] += 1
            elif code in SURVIVED:
                counts["survived"] += 1
                survivors.append(name)
            elif code in (5, 33):
                counts["no tests"] += 1
                survivors.append(name)
            else:
                counts[f"other({code})"] += 1
                survivors.append(name)
    return counts, survivors


def run(module: str, jobs: int, show: bool) -> int:
    tests = [t for t in MODULES[module] if (ROOT / t).exists()]
    work = _prepare(module, tests)
    env = dict(os.environ)
    # mutmut copies the sources to mutants/src after Python starts: the folder must exist
    # before, or the interpreter caches "no such path entry" and imports the originals.
    (work / "mutants" / "src").mkdir(parents=True)
    env["PYTHONPATH"] = str(work / "mutants" / "src")
    # The copy lives elsewhere, so point the tests at the real samples (else they skip and
    # every mutant they would have caught "survives"). No strict mode: skips stay skips.
    env.setdefault("CARDINGEST_SAMPLES", str(ROOT.parent / "shared" / "samples"))
    env.pop("CARDINGEST_STRICT", None)
    print(f"== {module}: mutating src/cardingest/{module}.py against {' '.join(tests)}")
    subprocess.run(
        [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
        cwd=work,
        env=env,
        check=False,
    )
    counts, survivors = _scores(work)
    total = sum(counts.values())
    killed = counts["killed"]
    score = 100.0 * killed / total if total else 0.0
    detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"== {module}: {killed}/{total} killed ({score:.1f}%): {detail}")
    for name in survivors:
        print(f"   survived: {name}")
        if show:
            subprocess.run(
                [sys.executable, "-m", "mutmut", "show", name], cwd=work, env=env, check=False
            )
    return 0 if score >= 90.0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="e.g. ids plan/naming archive/audit")
    parser.add_argument("--all", action="store_true", help="every module in the list")
    parser.add_argument("--list", action="store_true", help="print the modules and tests")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested in parallel")
    parser.add_argument("--show", action="store_true", help="print each survivor's diff")
    args = parser.parse_args()
    if args.list:
        for module, tests in MODULES.items():
            print(f"{module:20} {' '.join(tests)}")
        return 0
    modules = list(MODULES) if args.all else args.modules
    unknown = [m for m in modules if m not in MODULES]
    if unknown or not modules:
        parser.error(f"name modules from --list (unknown: {', '.join(unknown) or 'none given'})")
    status = 0
    for module in modules:
        status |= run(module, args.jobs, args.show)
    return status


if __name__ == "__main__":
    sys.exit(main())
