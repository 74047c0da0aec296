"""Print the fault suite's figures as a markdown table.

    python tests/faults/report.py            # the table of the last run (.results.json)
    python tests/faults/report.py --run      # run `pytest tests/faults` first, then the table
    python tests/faults/report.py --run -- -k kill   # extra arguments go to pytest

Set ``CARDINGEST_FAULT_SEED`` to replay another seed. With ``--run`` the exit code is
pytest's; without, it is 1 when the recorded run had a failure or found anything lost,
doubled, mislabelled, wiped unverified or stray.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RESULTS = HERE / ".results.json"
FIGURES = (
    "kill_points",
    "damaged_inputs",
    "checks",
    "lost",
    "doubled",
    "mislabelled",
    "wiped_unverified",
)
BAD = ("lost", "doubled", "mislabelled", "wiped_unverified", "stray", "problems")
HEADER = (
    "| # | Scenario | Tests | Result | Kill points | Damaged inputs | Consistency checks "
    "| Lost | Doubled | Mislabelled | Wiped unverified |"
)


def order(scenario: str) -> tuple[int, str]:
    match = re.match(r"(\d+)(.*)", scenario)
    return (int(match.group(1)), match.group(2)) if match else (10**6, scenario)


def verdict(outcomes: Iterable[str]) -> str:
    outcomes = list(outcomes)
    failed = sum(o in ("failed", "error") for o in outcomes)
    if failed:
        return f"**{failed} failed**"
    if all(o == "skipped" for o in outcomes):
        return "skipped"
    skipped = sum(o == "skipped" for o in outcomes)
    return "passed" + (f" ({skipped} skipped)" if skipped else "")


def group(tests: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    by_scenario: dict[str, list[dict[str, Any]]] = {}
    for test in tests:
        by_scenario.setdefault(test["scenario"], []).append(test)
    return [
        (scenario, rows[0]["title"], rows)
        for scenario, rows in sorted(by_scenario.items(), key=lambda item: order(item[0]))
    ]


def table(document: dict[str, Any]) -> str:
    tests = document["tests"]
    lines = [HEADER, "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|"]
    totals = dict.fromkeys(FIGURES, 0)
    for scenario, title, rows in group(tests):
        sums = {name: sum(int(row.get(name, 0)) for row in rows) for name in FIGURES}
        for name in FIGURES:
            totals[name] += sums[name]
        cells = [
            scenario,
            title,
            str(len(rows)),
            verdict(row["outcome"] for row in rows),
            *(str(sums[name]) for name in FIGURES),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    scenarios = len({order(t["scenario"])[0] for t in tests if t["scenario"][0].isdigit()})
    cells = [
        "",
        f"**all ({scenarios} scenarios)**",
        str(len(tests)),
        verdict(t["outcome"] for t in tests),
        *(f"**{totals[name]}**" for name in FIGURES),
    ]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def notes(document: dict[str, Any]) -> list[str]:
    found = []
    phases: dict[str, int] = {}
    for test in document["tests"]:
        bad = int(test.get("stray", 0)) + int(test.get("problems", 0))
        if bad:
            found.append(f"- {test['nodeid']}: {bad} stray file(s) or other inconsistencies")
        if test["scenario"] in ("1", "1b"):
            for name, count in (test.get("kill_phases") or {}).items():
                phases[name] = phases.get(name, 0) + int(count)
    if phases:
        where = ", ".join(f"{count} {name}" for name, count in sorted(phases.items()))
        found.append(f"- the {sum(phases.values())} random kill -9 points landed: {where}")
    return found


def render(document: dict[str, Any]) -> str:
    tests = document["tests"]
    seconds = sum(float(t.get("seconds", 0)) for t in tests)
    head = (
        f"Fault-injection suite: {len(tests)} tests in {seconds:.0f} s "
        f"(pytest session {document.get('seconds', 0):.0f} s), seed {document['seed']}, "
        f"{document.get('machine', '?')}, Python {document.get('python')} "
        f"({document.get('generated', '?')})."
    )
    body = [head, "", table(document)]
    extra = notes(document)
    if extra:
        body += ["", *extra]
    body += [
        "",
        "Reproduce: `python tests/faults/report.py --run` "
        f"(replay this seed: `CARDINGEST_FAULT_SEED={document['seed']} "
        "python tests/faults/report.py --run`).",
    ]
    return "\n".join(body)


def healthy(document: dict[str, Any]) -> bool:
    tests = document["tests"]
    return all(t["outcome"] in ("passed", "skipped") for t in tests) and not any(
        int(t.get(name, 0)) for t in tests for name in BAD
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run pytest tests/faults first")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results file to read")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    code = 0
    if args.run:
        command = [sys.executable, "-m", "pytest", str(HERE), "-q", *args.pytest_args]
        code = subprocess.run(command, cwd=REPO, check=False).returncode
    if not args.results.is_file():
        print(f"No results at {args.results}: run with --run first.", file=sys.stderr)
        return code or 2
    document = json.loads(args.results.read_text())
    print(render(document))
    if args.run:
        return code
    return 0 if healthy(document) else 1


if __name__ == "__main__":
    sys.exit(main())
