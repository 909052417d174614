"""Library scan: first scan of 10,000 small files, re-scan of the unchanged tree, big files.

BENCHMARKS.md: re-scan of 10,000 unchanged files < 2 s. Also reported: the
first scan of the same tree (threads vs processes across files), the whole
``sdhub scan`` process on the unchanged tree (interpreter start-up and imports
included), and the first scan of a few large safetensors files against the
machine's SHA-256 rate (the faster of ``sha256sum`` and ``openssl dgst``).

    python bench/scan_bench.py [--path DIR] [--files 10000] [--large-mb 512] [--large 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    MIB,
    have,
    load_average,
    machine_line,
    sdhub_command,
    table,
    time_process,
    warm,
    write_safetensors_sized,
)

# The catalog and the sample recipes come from the installed package.
from sdhub.catalog import open_catalog, open_library, scan_library
from sdhub.models.samples import SAMPLES, write_sample

#: Tiny real-format files: a LoRA and an embedding recipe (a few KB each).
_RECIPES = (("ia3-sd1", "models/Lora"), ("embedding-diffusers-sd1", "embeddings"))
_PER_FOLDER = 250


def build_tree(root: Path, count: int) -> Path:
    """``count`` tiny files, each its own bytes, in an A1111 layout (reused when present)."""
    marker = root / f".built-{count}"
    if marker.exists():
        return root
    if root.exists():
        shutil.rmtree(root)
    templates = []
    for recipe, folder in _RECIPES:
        path = root / "template" / f"{recipe}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_sample(SAMPLES[recipe], path, seed=1)
        templates.append((path.read_bytes(), folder))
    shutil.rmtree(root / "template")
    for i in range(count):
        data, folder = templates[i % len(templates)]
        target = root / folder / f"batch{i // _PER_FOLDER:03d}" / f"file{i:05d}.safetensors"
        target.parent.mkdir(parents=True, exist_ok=True)
        # Different bytes in the last tensor value: every file hashes differently.
        target.write_bytes(data[:-4] + i.to_bytes(4, "little"))
    marker.touch()
    return root


def timed_scan(url: str, root: Path, **kwargs) -> tuple[float, object]:
    with open_catalog(url) as catalog:
        t0 = time.perf_counter()
        report = scan_library(catalog, library=open_library(root), **kwargs)
        return time.perf_counter() - t0, report


def bench_small(folder: Path, count: int) -> str:
    root = build_tree(folder / f"scan-tree-{count}", count)
    rows = []
    first_times = {}
    for label, kwargs in (
        ("threads", {}),
        ("processes", {"processes": True}),
    ):
        db = folder / f"scan-{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{db}"
        seconds, report = timed_scan(url, root, **kwargs)
        assert report.stats.new == count, report.stats
        first_times[label] = seconds
        rows.append(
            (f"first scan, {label} across files", f"{seconds:.2f} s", f"{count / seconds:.0f}")
        )
    url = f"sqlite:///{folder / 'scan-threads.db'}"
    rescans = []
    for _ in range(3):
        seconds, report = timed_scan(url, root)
        assert report.stats.inspected == 0 and report.stats.unchanged == count
        rescans.append(seconds)
    best = min(rescans)
    rows.append(("re-scan, unchanged (in-process)", f"{best:.3f} s", f"{count / best:.0f}"))
    env_home = folder / "scan-home"
    env_home.mkdir(exist_ok=True)
    shutil.copy2(folder / "scan-threads.db", env_home / "catalog.db")
    os.environ["SDHUB_HOME"] = str(env_home)
    os.environ.pop("SDHUB_DB_URL", None)
    proc = time_process([*sdhub_command(), "scan", str(root), "--json"], reps=3)
    rows.append(
        ("re-scan, whole `sdhub scan` process", f"{proc.best:.3f} s", f"{count / proc.best:.0f}")
    )
    verdict = "meets" if best < 2.0 else "MISSES"
    size = sum(p.stat().st_size for p in root.rglob("*.safetensors")) / MIB
    return "\n".join(
        [
            f"### {count:,} small files ({size:.0f} MiB)",
            "",
            table(("what", "time", "files/s"), rows),
            "",
            f"Re-scan of {count:,} unchanged files: **{best:.3f} s** in-process, "
            f"{proc.best:.3f} s as a process — {verdict} the < 2 s target.",
            f"First scan: threads {first_times['threads']:.2f} s, processes "
            f"{first_times['processes']:.2f} s.",
        ]
    )


def bench_large(folder: Path, count: int, size_mb: int) -> str:
    files = []
    tree = folder / "scan-large"
    for i in range(count):
        path = tree / "models" / "Stable-diffusion" / f"big{i}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        files.append(write_safetensors_sized(path, size_mb * MIB))
    for path in files:
        warm(path)
    refs = {}
    if have("sha256sum"):
        refs["sha256sum"] = time_process(["sha256sum", *map(str, files)], reps=2).best
    if have("openssl"):
        refs["openssl dgst -sha256"] = time_process(
            ["openssl", "dgst", "-sha256", *map(str, files)], reps=2
        ).best
    rows = [(name, f"{t:.2f} s", "") for name, t in refs.items()]
    best_ref = min(refs.values()) if refs else float("nan")
    scans = []
    for _ in range(2):
        db = folder / "scan-large.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        seconds, report = timed_scan(f"sqlite:///{db}", tree)
        assert report.stats.inspected == count
        scans.append(seconds)
    best = min(scans)
    ratio = best / best_ref
    rows.append(("sdhub first scan (six hashes + classify)", f"{best:.2f} s", f"{ratio:.2f}×"))
    total = count * size_mb * MIB
    return "\n".join(
        [
            f"### {count} large files of {size_mb} MiB (page cache warm)",
            "",
            table(("what", "time", "vs SHA-256 reference"), rows),
            "",
            f"Scan throughput {total / best / MIB:.0f} MiB/s against "
            f"{total / best_ref / MIB:.0f} MiB/s for one SHA-256 pass: {ratio:.2f}×.",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, help="folder for the test files (kept)")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=2, help="number of large files")
    parser.add_argument("--large-mb", type=int, default=512)
    args = parser.parse_args()
    folder = args.path or Path(tempfile.mkdtemp(prefix="sdhub-scan-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    print("## Library scan (`bench/scan_bench.py`)\n")
    print(f"Machine: {machine_line()}; load {load_average()}\n")
    print(bench_small(folder, args.files))
    print()
    if args.large:
        print(bench_large(folder, args.large, args.large_mb))
        print()
    print(f"Load after: {load_average()}")
    if not args.path:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
