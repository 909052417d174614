"""Bytes read to classify multi-GB model files (target: < 1 MiB, BENCHMARKS.md).

Three SD1-shaped checkpoints of about 2 GiB each (1130 tensors): safetensors,
a torch zip written by real ``torch.save`` and a legacy (pre-1.6) torch file.
For each, ``inspect_file(path, hashes=False)`` (sniff, pickle scan, index,
classify) is measured three ways:

- ``rchar``: bytes the process asked ``read()`` for (``/proc/self/io``);
- cold pages: the file's pages evicted first (``POSIX_FADV_DONTNEED``, this
  file only), then what ``fincore`` finds cached afterwards: every byte the
  kernel really fetched, readahead and mmap included;
- time, warm (best of 3) and cold.

    python bench/classify_bench.py [--path DIR] [--skip-legacy]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import (
    GIB,
    MIB,
    bench_folder,
    header,
    load_average,
    table,
    write_safetensors_sized,
    write_torch_checkpoint,
)
from sdhub.models.inspect import inspect_file


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, help="folder for the test files (kept); default: temp")
    parser.add_argument("--skip-legacy", action="store_true", help="no legacy torch file")
    args = parser.parse_args()
    header("Classification: bytes read from multi-GB files")
    with bench_folder(args.path) as folder:
        return run(folder, args.skip_legacy)


def run(folder: Path, skip_legacy: bool) -> int:
    files = [
        write_safetensors_sized(folder / "sd1-fp16-2GiB.safetensors", 2 * GIB),
        write_torch_checkpoint(folder / "sd1-fp16.ckpt"),
    ]
    if not skip_legacy:
        files.append(write_torch_checkpoint(folder / "sd1-fp16-legacy.ckpt", legacy=True))
    inspect_file(files[0], hashes=False)  # imports and first-call costs out of the way
    rows = []
    worst = 0.0
    for path in files:
        row, fraction = measure(path)
        rows.append(row)
        worst = max(worst, fraction)
    print(
        table(
            [
                "file",
                "size",
                "kind / base",
                "rchar",
                "read() calls",
                "target: rchar < 1 MiB",
                "cold pages fetched",
                "warm time",
                "cold time",
            ],
            rows,
        )
    )
    print(
        "\nrchar: bytes sdhub asked read() for. Cold pages: what the kernel fetched,"
        f" readahead included (this disk: read_ahead_kb = {_read_ahead_kb(files[0])})."
    )
    print(f"\nLoad average after: {load_average()}.\n")
    return 0


def measure(path: Path) -> tuple[list[object], float]:
    size = path.stat().st_size
    warm_times = []
    for _ in range(3):
        t0 = time.perf_counter()
        inspect_file(path, hashes=False)
        warm_times.append(time.perf_counter() - t0)

    before = _proc_io()
    report = inspect_file(path, hashes=False)
    after = _proc_io()
    rchar = after["rchar"] - before["rchar"]
    calls = after["syscr"] - before["syscr"]

    fetched, cold = _cold_run(path)
    label = f"{report.kind.value} / {report.base.value}"
    if report.error:
        label += f" ({report.error})"
    row = [
        path.name,
        f"{size / GIB:.2f} GiB",
        label,
        f"{rchar / 1024:.1f} KiB",
        calls,
        "**ok**" if rchar < MIB else "**MISSED**",
        f"{fetched / 1024:.0f} KiB" if fetched is not None else "n/a",
        f"{min(warm_times) * 1000:.1f} ms",
        f"{cold * 1000:.1f} ms" if cold is not None else "n/a",
    ]
    return row, rchar / MIB


def _read_ahead_kb(path: Path) -> str:
    dev = os.stat(path).st_dev
    block = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}").resolve()
    for folder in (block, block.parent):  # a partition's queue is its disk's
        try:
            return (folder / "queue" / "read_ahead_kb").read_text().strip()
        except OSError:
            continue
    return "?"


def _proc_io() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/self/io").read_text().splitlines():
        key, value = line.split(":")
        fields[key] = int(value)
    return fields


def _cold_run(path: Path) -> tuple[int | None, float | None]:
    """Evict this file's pages, classify, and count the pages the kernel brought back."""
    if not shutil.which("fincore") or not hasattr(os, "posix_fadvise"):
        return None, None
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages cannot be dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    if _resident(path) > 64 * 1024:
        return None, None  # eviction refused (another process pins it?): no honest number
    t0 = time.perf_counter()
    inspect_file(path, hashes=False)
    elapsed = time.perf_counter() - t0
    return _resident(path), elapsed


def _resident(path: Path) -> int:
    out = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--raw", "--output", "RES", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip() or 0)


if __name__ == "__main__":
    sys.exit(main())
