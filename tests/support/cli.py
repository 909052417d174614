"""Running the real command line in a child process, as a person's shell would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any


def run_sdhub(
    *args: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """``sdhub ARGS…`` with this interpreter; ``env`` replaces the environment when given."""
    return subprocess.run(
        [sys.executable, "-m", "sdhub.tui.cli", *map(str, args)],
        capture_output=True,
        text=True,
        env=None if env is None else dict(env),
        input=stdin,
        check=False,
        timeout=timeout,
    )


def json_lines(out: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The JSON Lines records a ``--json`` run printed on stdout."""
    return [json.loads(line) for line in out.stdout.splitlines()]
