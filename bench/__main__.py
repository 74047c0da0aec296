"""Run the benchmarks: ``python -m bench [--quick] [--repeat N] [--only CASE]``.

Tables go to stdout (and to bench/out/latest.txt), progress to stderr. The exit code is 1
only when a case failed to run; a missed target is reported, not fatal.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from .common import Options, Skip, Table, cardingest_exe, load, log, machine_header

CASES = ("preview", "ingest", "verify", "search", "memory", "slates", "sheet")
SEARCH_SCRIPT = Path(__file__).with_name("search.py")
DEFAULT_OUT = Path(__file__).with_name("out") / "latest.txt"

Result = Table | str


def run_search(options: Options, _cardingest: str) -> list[Result]:
    """The catalogue search case is bench/search.py (its own script); show what it prints."""
    if not SEARCH_SCRIPT.exists():
        raise Skip(f"{SEARCH_SCRIPT} is not there")
    command = [sys.executable, str(SEARCH_SCRIPT)]
    if options.quick:
        command += ["--rows", "100000"]
    log(f"search: {' '.join(command[1:])}")
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bench/search.py exited {out.returncode}:\n{out.stderr[-3000:]}")
    rows = "100,000" if options.quick else "1,000,000"
    return [f"== search: catalogue of {rows} rows (bench/search.py)\n{out.stdout.rstrip()}"]


def runner(name: str) -> Callable[[Options, str], list[Result]]:
    if name == "search":
        return run_search
    module = importlib.import_module(f"{__package__}.{name}")
    return module.run  # type: ignore[no-any-return]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="cardingest benchmarks (docs/performance.md)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs per contender (default 3; the memory case runs once unless this is given)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only", action="append", choices=CASES, metavar="CASE", help=f"one of {CASES}"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="also write tables here")
    args = parser.parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    options = Options(
        repeat=args.repeat or 3, quick=args.quick, repeat_given=args.repeat is not None
    )
    cardingest = cardingest_exe()
    shown = " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)])
    began = time.perf_counter()
    report = [
        f"cardingest benchmarks  {datetime.now().isoformat(timespec='seconds')}  `{shown}`",
        *machine_header(cardingest),
        "",
    ]
    print("\n".join(report), flush=True)
    outcomes: list[tuple[str, str, bool]] = []
    failed = 0
    for name in args.only or CASES:
        case_began = time.perf_counter()
        try:
            results = runner(name)(options, cardingest)
        except Skip as why:
            results = [f"== {name}: skipped: {why}"]
        except Exception as exc:
            failed += 1
            traceback.print_exc()
            results = [f"== {name}: FAILED: {exc}"]
        for result in results:
            text = result.render() if isinstance(result, Table) else result
            if isinstance(result, Table):
                outcomes += [
                    (f"{result.title}: {who}", what, ok) for who, what, ok in result.outcomes()
                ]
            print(text + "\n", flush=True)
            report += [text, ""]
        log(f"{name}: {time.perf_counter() - case_began:.0f} s")
    summary = [f"== targets ({time.perf_counter() - began:.0f} s in all; at the end {load()})"]
    summary += [f"{'PASS' if ok else 'MISS'}  {who}  [{what}]" for who, what, ok in outcomes]
    if failed:
        summary.append(f"{failed} case(s) failed to run")
    print("\n".join(summary), flush=True)
    report += summary
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(report) + "\n")
    log(f"written to {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
