"""How the command line speaks: JSON Lines on stdout, people's messages on stderr.

Exit statuses are part of the contract (CLI.md): 0 all good, 1 some item
failed (each failure still reported), 2 usage error.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_ITEM_FAILED = 1
EXIT_USAGE = 2


def emit_json(obj: dict[str, Any]) -> None:
    """One JSON Lines record on stdout, flushed so pipes see it at once."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def stderr_console():  # -> rich.console.Console (imported lazily: `info` stays lean)
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def stdout_console():
    from rich.console import Console

    return Console(highlight=False)


def warn(message: str) -> None:
    """A one-line message for a person, on stderr."""
    sys.stderr.write(f"sdhub: {message}\n")
    sys.stderr.flush()


def die(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Stop with a one-line error that names what was wrong."""
    warn(f"error: {message}")
    raise SystemExit(code)
