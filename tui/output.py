"""How the command line speaks: JSON Lines on stdout, people's messages on stderr.

Exit statuses are part of the contract (CLI.md): 0 all good, 1 some item
failed (each failure still reported), 2 usage error.

Tokens are never printed (CLI.md): everything written here passes
:func:`scrub`, which hides the configured tokens and any ``token=`` query
value, e.g. of a Civitai download URL pasted with its key.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any, NoReturn

EXIT_OK = 0
EXIT_ITEM_FAILED = 1
EXIT_USAGE = 2

#: What replaces a secret in anything printed.
MASK = "***"

#: ``?token=…`` / ``&api_key=…`` in URLs (a Civitai download link carries its key so).
_TOKEN_PARAM = re.compile(
    r"(?i)([?&](?:token|access_token|api_key|apikey|key|hf_token)=)[^&#\s\"'<>:,;)\]]+"
)

#: Token values of this run (see :func:`register_secrets`).
_secrets: set[str] = set()


def register_secrets(*values: str | None) -> None:
    """Values that must never appear in output (the configured API tokens)."""
    for value in values:
        if value and len(value.strip()) >= 6:  # short strings would mask ordinary words
            _secrets.add(value.strip())


def scrub(text: str) -> str:
    """``text`` with every registered token and ``token=`` query value masked."""
    text = _TOKEN_PARAM.sub(lambda m: m.group(1) + MASK, text)
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def emit_json(obj: dict[str, Any]) -> None:
    """One JSON Lines record on stdout, flushed so pipes see it at once.

    Strict JSON: a NaN or infinity (``NaN`` is no JSON, ``jq`` refuses the line)
    is written as null.
    """
    try:
        line = json.dumps(obj, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:
        line = json.dumps(_finite(obj), ensure_ascii=False, default=str, allow_nan=False)
    sys.stdout.write(scrub(line) + "\n")
    sys.stdout.flush()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def stderr_console():  # -> rich.console.Console (imported lazily: `info` stays lean)
    from rich.console import Console

    return Console(stderr=True, highlight=False)


#: Line width for tables written into a pipe or file: wide enough that no row wraps, so
#: ``sdhub ls | grep NAME`` finds whole rows and a REF or path is never cut in two.
PIPE_WIDTH = 512


def stdout_console():
    """Rich on stdout: the terminal's width on a terminal; in a pipe no colours and no
    wrapping (unless COLUMNS says how wide)."""
    import os

    piped = not sys.stdout.isatty() and not os.environ.get("COLUMNS")
    return _console_class()(highlight=False, width=PIPE_WIDTH if piped else None)


def _console_class():  # -> type[rich.console.Console]
    """rich's Console, except that a closed pipe raises :class:`BrokenPipeError` (which
    ``sdhub``'s entry point turns into a quiet exit 0, the same for every command) where
    rich would exit 1, the status that means "an item failed"."""
    from rich.console import Console

    class _PipeAwareConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError

    return _PipeAwareConsole


def warn(message: str) -> None:
    """A one-line message for a person, on stderr."""
    sys.stderr.write(f"sdhub: {scrub(message)}\n")
    sys.stderr.flush()


def die(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Stop with a one-line error that names what was wrong."""
    warn(f"error: {message}")
    raise SystemExit(code)
