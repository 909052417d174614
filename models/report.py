"""Results about one file: hashes, safety, classification, and the whole report.

These are the facts the catalog stores and the command line prints; the JSON
shape produced by :meth:`FileReport.to_json` is the contract in CLI.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .kinds import Base, Component, FileFormat, Kind, Verdict


@dataclass(frozen=True, slots=True)
class Hashes:
    """Every hash Civitai shows for a file, upper-case hex as Civitai prints them."""

    sha256: str
    autov1: str
    autov2: str
    autov3: str | None
    crc32: str
    blake3: str

    def to_json(self) -> dict[str, str | None]:
        return {
            "sha256": self.sha256,
            "autov1": self.autov1,
            "autov2": self.autov2,
            "autov3": self.autov3,
            "crc32": self.crc32,
            "blake3": self.blake3,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Hashes:
        return cls(
            sha256=data["sha256"],
            autov1=data["autov1"],
            autov2=data["autov2"],
            autov3=data.get("autov3"),
            crc32=data["crc32"],
            blake3=data["blake3"],
        )


@dataclass(frozen=True, slots=True)
class Safety:
    """Pickle scan result: the verdict and every global the pickles reference."""

    verdict: Verdict
    globals: tuple[str, ...] = ()
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"verdict": self.verdict.value, "globals": list(self.globals)}
        if self.reason:
            data["reason"] = self.reason
        return data


@dataclass(slots=True)
class Classification:
    """Kind, base and the per-kind details decided from keys and shapes."""

    kind: Kind
    base: Base = Base.UNKNOWN
    component: Component | None = None
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: Why a file is ``invalid`` (or could not be classified), one line.
    error: str | None = None


@dataclass(slots=True)
class FileReport:
    """Everything ``sdhub info`` knows about one file."""

    path: Path
    size: int
    format: FileFormat
    classification: Classification
    safety: Safety
    hashes: Hashes | None = None

    @property
    def kind(self) -> Kind:
        return self.classification.kind

    @property
    def base(self) -> Base:
        return self.classification.base

    @property
    def error(self) -> str | None:
        return self.classification.error

    @property
    def failed(self) -> bool:
        """True for the files that make ``sdhub info`` exit 1."""
        return self.kind is Kind.INVALID or self.safety.verdict is Verdict.DANGEROUS

    def to_json(self) -> dict[str, Any]:
        details = dict(self.classification.details)
        if self.classification.component is not None:
            details.setdefault("component", self.classification.component.value)
        return {
            "path": str(self.path),
            "kind": self.kind.value,
            "base": self.base.value,
            "format": self.format.value,
            "size": self.size,
            "hashes": None if self.hashes is None else self.hashes.to_json(),
            "safety": self.safety.to_json(),
            "details": details,
            "warnings": list(self.classification.warnings),
            "error": self.error,
        }
