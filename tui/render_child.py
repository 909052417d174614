"""Render one asset from the browser by running ``sdhub render PATH --json`` as a child.

A child process keeps torch and its memory out of the browser; the render
job (``sdhub.hub.render``) records the verdict in the catalog, where the
browser reads it back. This lives in ``tui`` because it drives our own
command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sdhub.hub.actions import ActionResult


def render_in_child(path: str, *, timeout: float | None = None) -> ActionResult:
    """Render the asset at ``path`` with the default grid; the last JSON line is the verdict."""
    command = [sys.executable, "-m", "sdhub.tui.cli", "render", "--json", path]
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return ActionResult(False, "render took too long; try `sdhub render` in a shell")
    for line in reversed(done.stdout.splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and "verdict" in data:
            grid = data.get("grid")
            message = f"render: {data['verdict']}" + (f" · {grid}" if grid else "")
            if data.get("message"):
                message += f" · {data['message']}"
            return ActionResult(data["verdict"] == "ok", message, Path(grid) if grid else None)
    error = (done.stderr.strip().splitlines() or ["no result"])[-1]
    return ActionResult(False, error.removeprefix("sdhub: "))
