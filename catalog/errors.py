"""Errors of the catalog: each message is one line that names the thing and what to do."""

from __future__ import annotations

from collections.abc import Sequence


class CatalogError(Exception):
    """The catalog cannot do what was asked (bad database URL, failed migration, …)."""


class RefNotFoundError(CatalogError):
    """A reference (path, name, hash) matches nothing in the catalog."""

    def __init__(self, ref: str, hint: str | None = None) -> None:
        self.ref = ref
        message = f"{ref!r} matches no asset in the catalog"
        super().__init__(f"{message}; {hint}" if hint else message)


class MalformedRefError(RefNotFoundError):
    """A reference that fits no REF form at all (``civitai:abc``, an empty string)."""

    def __init__(self, ref: str, expected: str) -> None:
        self.ref = ref
        CatalogError.__init__(self, f"{ref!r}: not a reference ({expected})")


class AmbiguousRefError(CatalogError):
    """A reference matches several assets; ``candidates`` are their paths."""

    def __init__(self, ref: str, candidates: Sequence[str], hint: str | None = None) -> None:
        self.ref = ref
        self.candidates = list(candidates)
        super().__init__(
            f"{ref!r} matches {len(self.candidates)} assets; "
            + (hint or "use a path or a hash to pick one")
        )


class SidecarError(CatalogError):
    """A sidecar file next to a model cannot be read or written."""
