"""Run every benchmark in ``bench/`` and collect their reports in ``bench/out/report.md``.

A benchmark is any ``bench/*_bench.py``; each prints Markdown on stdout.
Those that take ``--path DIR`` share one folder of test files (keep it with
``--path`` so multi-GB files are made once). Timings are ratios against
references measured in the same run (BENCHMARKS.md); nothing here asserts a
wall-clock time.

    python bench/run_all.py [--path DIR] [--only NAME,...]   (or: make bench)
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from pathlib import Path

from _common import bench_folder

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def discover(only: set[str] | None) -> list[Path]:
    scripts = sorted(p for p in HERE.glob("*_bench.py") if not p.name.startswith("_"))
    if only:
        scripts = [p for p in scripts if p.stem.removesuffix("_bench") in only or p.stem in only]
    return scripts


def git_commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, help="folder for the shared test files (kept)")
    parser.add_argument("--only", help="comma-separated benchmark names (hash, classify, …)")
    args = parser.parse_args()
    scripts = discover(set(args.only.split(",")) if args.only else None)
    if not scripts:
        print("no benchmarks found", file=sys.stderr)
        return 2
    with bench_folder(args.path) as folder:
        return run(scripts, folder)


def run(scripts: list[Path], folder: Path) -> int:
    OUT.mkdir(exist_ok=True)
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    sections = [f"# sdhub benchmarks\n\n{now}, commit {git_commit()}\n"]
    failures = 0
    for script in scripts:
        print(f"== {script.name}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        argv = [sys.executable, str(script)]
        if '"--path"' in script.read_text():  # shares the folder of test files
            argv += ["--path", str(folder)]
        out = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            cwd=HERE,
        )
        took = time.perf_counter() - started
        text = out.stdout.rstrip() + "\n"
        if out.returncode != 0:
            failures += 1
            text += f"\n**{script.name} failed (exit {out.returncode})**\n\n```\n"
            text += out.stderr[-3000:] + "\n```\n"
        text += f"\n_{script.name}: {took:.0f} s_\n"
        sections.append(text)
        print(text)
    report = OUT / "report.md"
    report.write_text("\n".join(sections))
    print(f"report: {report}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
