"""Shared pieces of the benchmarks: test files shaped like real ones, timing, tables.

Benchmarks print Markdown on stdout (``bench/run_all.py`` collects it into
``bench/out/report.md``) and compare against a reference measured in the same
run, on the same input (BENCHMARKS.md): absolute times mean little across
machines of one kind.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from math import prod
from pathlib import Path

from _sd1 import sd1_checkpoint_keys

GIB = 1 << 30
MIB = 1 << 20
_RANDOM_BLOCK = 64 * MIB


def sdhub_command() -> list[str]:
    """How a user starts sdhub from this venv: the console script, else ``-m``."""
    script = Path(sys.executable).with_name("sdhub")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "sdhub.tui.cli"]


def cores() -> int:
    """CPUs this process may run on (``taskset`` and containers included)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_line() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        flags = Path("/proc/cpuinfo").read_text()
        sha_ni = " sha_ni" in flags
    except OSError:
        sha_ni = False
    return (
        f"{cpu}, {cores()} CPUs usable of {os.cpu_count()}, SHA-NI {'yes' if sha_ni else 'no'}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def header(title: str) -> None:
    """A benchmark's section title and the machine it runs on."""
    print(f"## {title}\n")
    print(f"Machine: {machine_line()}; load average before: {load_average()}\n")


@contextlib.contextmanager
def bench_folder(path: Path | None, prefix: str = "sdhub-bench-") -> Iterator[Path]:
    """The folder for the test files: ``path`` (made if needed, kept: multi-GB files are
    made once) or a temporary one (removed afterwards)."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "?"


# -- files ---------------------------------------------------------------------


def sd1_tensors(size: int | None, dtype_width: int = 2) -> list[tuple[str, tuple[int, ...]]]:
    """SD1 checkpoint tensors (fp16), cut or padded so the data is close to ``size``."""
    keys = sd1_checkpoint_keys()
    if size is None:
        return keys
    chosen, total = [], 0
    for name, shape in keys:
        nbytes = prod(shape) * dtype_width
        if total + nbytes > size:
            break
        chosen.append((name, shape))
        total += nbytes
    return chosen


def _random_chunks(total: int) -> Iterable[memoryview]:
    """``total`` pseudo-random bytes: one random block, rotated differently each time.

    Hash speed does not depend on content; this only keeps the file from being
    zeros (or one block repeated) while costing no more than writing it.
    """
    block = os.urandom(_RANDOM_BLOCK)
    doubled = memoryview(block + block)
    turn = 0
    while total > 0:
        n = min(total, _RANDOM_BLOCK)
        start = (turn * 4099) % _RANDOM_BLOCK
        yield doubled[start : start + n]
        total -= n
        turn += 1


def write_safetensors_sized(path: Path, size: int) -> Path:
    """A real-format safetensors file of exactly ``size`` bytes: SD1 fp16 keys, random data.

    Reused when it already exists with that size (making 2 GiB takes a while).
    """
    if path.exists() and path.stat().st_size == size:
        return path
    # First guess the header, then fill the rest of ``size`` with tensors + one pad tensor.
    tensors = sd1_tensors(size - 256 * 1024)
    header: dict[str, object] = {"__metadata__": {"format": "pt", "bench": "sdhub"}}
    offset = 0
    for name, shape in tensors:
        nbytes = prod(shape) * 2
        header[name] = {
            "dtype": "F16",
            "shape": list(shape),
            "data_offsets": [offset, offset + nbytes],
        }
        offset += nbytes
    header["bench.padding"] = {"dtype": "U8", "shape": [0], "data_offsets": [offset, offset]}
    raw = json.dumps(header, separators=(",", ":")).encode()
    head_len = len(raw) + 64  # room for the pad's real numbers
    head_len += (-head_len) % 8
    pad = size - 8 - head_len - offset
    if pad < 0:
        raise ValueError(f"{size} bytes is too small for the chosen tensors")
    header["bench.padding"] = {
        "dtype": "U8",
        "shape": [pad],
        "data_offsets": [offset, offset + pad],
    }
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (head_len - len(raw))
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(raw)))
        fh.write(raw)
        for chunk in _random_chunks(offset + pad):
            fh.write(chunk)
    os.replace(tmp, path)
    assert path.stat().st_size == size
    return path


def write_torch_checkpoint(path: Path, *, legacy: bool = False) -> Path:
    """An SD1-shaped ``.ckpt`` written by real ``torch.save``: ~2 GiB of fp16 weights.

    The data is random like real weights (not zeros): a scanner that peeks
    into every storage for hidden pickles sees opcode-like bytes, as it
    would in a real file. ``legacy`` writes the pre-1.6 format.
    """
    if path.exists() and path.stat().st_size > GIB:
        return path
    import torch  # only this benchmark needs torch

    generator = torch.Generator().manual_seed(0)
    state = {}
    for name, shape in sd1_checkpoint_keys():
        tensor = torch.empty(shape, dtype=torch.float16)
        tensor.normal_(0.0, 0.02, generator=generator)
        state[name] = tensor
    tmp = path.with_suffix(path.suffix + ".part")
    checkpoint = {"state_dict": state, "global_step": 840000, "epoch": 6}
    torch.save(checkpoint, tmp, _use_new_zipfile_serialization=not legacy)
    os.replace(tmp, path)
    return path


def warm(path: Path, passes: int = 2) -> None:
    """Read the whole file so it sits in the page cache."""
    buf = bytearray(16 * MIB)
    for _ in range(passes):
        with open(path, "rb", buffering=0) as fh:
            while fh.readinto(buf):
                pass


# -- timing --------------------------------------------------------------------


@dataclass
class Timing:
    best: float
    runs: list[float]
    #: CPU seconds (user + sys) of each run, for processes: less skewed by other load.
    cpu: list[float] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.best:.3f} s"

    @property
    def best_cpu(self) -> float:
        return min(self.cpu) if self.cpu else float("nan")


def time_process(
    argv: Sequence[str], reps: int, check: Callable[[bytes], None] | None = None
) -> Timing:
    runs, cpu = [], []
    for _ in range(reps):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, check=False)
        runs.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if out.returncode not in (0, 1):
            raise RuntimeError(f"{argv[0]} failed: {out.stderr.decode(errors='replace')[-500:]}")
        if check is not None:
            check(out.stdout)
    return Timing(min(runs), runs, cpu)


def time_call(fn: Callable[[], object], reps: int) -> tuple[Timing, float]:
    """Best wall time and the CPU seconds (user + sys) of that best run."""
    runs, cpus = [], []
    for _ in range(reps):
        c0 = os.times()
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
        c1 = os.times()
        cpus.append(c1.user - c0.user + c1.system - c0.system)
    best = min(range(reps), key=runs.__getitem__)
    return Timing(runs[best], runs), cpus[best]


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
