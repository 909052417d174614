"""Regular expressions compiled on first use.

The classifier holds some fifty patterns; compiling them all at import took
~15 ms of every ``sdhub`` start-up (the hash benchmark times the whole
process), while a given file exercises only a few of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator


class LazyPattern:
    """``re.compile(pattern, flags)``, done the first time the pattern is used."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self.pattern = pattern
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self.flags)
        return self._compiled

    def match(self, string: str) -> re.Match[str] | None:
        return (self._compiled or self.compiled()).match(string)

    def fullmatch(self, string: str) -> re.Match[str] | None:
        return (self._compiled or self.compiled()).fullmatch(string)

    def search(self, string: str) -> re.Match[str] | None:
        return (self._compiled or self.compiled()).search(string)

    def finditer(self, string: str) -> Iterator[re.Match[str]]:
        return (self._compiled or self.compiled()).finditer(string)

    def findall(self, string: str) -> list[str]:
        return (self._compiled or self.compiled()).findall(string)

    def sub(self, repl: str, string: str, count: int = 0) -> str:
        return (self._compiled or self.compiled()).sub(repl, string, count)

    def __repr__(self) -> str:
        return f"LazyPattern({self.pattern!r}, {self.flags!r})"
