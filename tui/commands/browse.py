"""``sdhub`` with no command: the terminal browser (issue 5)."""

from __future__ import annotations

from ..output import die


def open_browser() -> None:
    die("the terminal browser is not built yet; try `sdhub --help`")
