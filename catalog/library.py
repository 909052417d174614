"""A WebUI install as the catalog sees it: a root, its layout, and where each kind belongs.

Folder names come from :mod:`sdhub.models.layouts` (the one table of them);
this module only answers "is this file at home?" for a scan report and for
placement.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

from sdhub.models.kinds import Component, Kind
from sdhub.models.layouts import (
    Layout,
    detect_layout,
    folder_for,
    kind_of_folder,
    model_folders,
    slot_key,
)


@dataclass(frozen=True, slots=True)
class Library:
    """A WebUI root and its folder convention."""

    root: Path
    layout: Layout

    def folders(self) -> list[Path]:
        """The layout's model folders that exist under the root (a scan walks these)."""
        return [self.root / f for f in model_folders(self.layout) if (self.root / f).is_dir()]

    def home(self, kind: Kind, component: Component | None = None) -> Path | None:
        """The folder new files of a kind go to, None where the WebUI has none."""
        folder = folder_for(self.layout, kind, component)
        return None if folder is None else self.root / folder

    def relative(self, path: str | os.PathLike[str]) -> PurePosixPath | None:
        """``path`` relative to the root, None when it is outside."""
        try:
            rel = os.path.relpath(os.path.abspath(path), self.root)
        except ValueError:
            return None
        if rel == os.curdir or rel.startswith(os.pardir + os.sep) or rel == os.pardir:
            return None
        return PurePosixPath(*Path(rel).parts)

    def contains(self, path: str | os.PathLike[str]) -> bool:
        return self.relative(path) is not None


def open_library(root: str | os.PathLike[str], layout: Layout | str | None = None) -> Library:
    """A library at ``root``: its layout as given, else detected, else A1111."""
    path = Path(os.path.abspath(root))
    if layout is not None:
        return Library(path, Layout(layout))
    return Library(path, detect_layout(path) or Layout.A1111)


class Placement(StrEnum):
    """Whether a file sits where its kind belongs."""

    HOME = "home"  # in a folder the WebUI reads this kind from
    MISPLACED = "misplaced"  # in another kind's folder
    UNPLACED = "unplaced"  # under the root but in no model folder
    NO_SLOT = "no-slot"  # the layout has no folder for this kind (ask the user)
    OUTSIDE = "outside"  # not under the library root
    INVALID = "invalid"  # not a usable model file: never moved


@dataclass(frozen=True, slots=True)
class Verdict:
    placement: Placement
    #: Where the file belongs (for misplaced/unplaced files).
    home: Path | None = None


def judge_placement(
    library: Library, path: str | os.PathLike[str], kind: Kind, component: Component | None
) -> Verdict:
    """Is a file of this kind at home in the library?"""
    rel = library.relative(path)
    if rel is None:
        return Verdict(Placement.OUTSIDE)
    if kind is Kind.INVALID:
        return Verdict(Placement.INVALID)
    keys = kind_of_folder(library.layout, rel.parent)
    if slot_key(kind, component) in keys:
        return Verdict(Placement.HOME)
    if is_checkpoint_companion_vae(Path(path), kind):
        return Verdict(Placement.HOME)
    home = library.home(kind, component)
    if home is None:
        return Verdict(Placement.NO_SLOT)
    return Verdict(Placement.MISPLACED if keys else Placement.UNPLACED, home)


def is_checkpoint_companion_vae(path: Path, kind: Kind) -> bool:
    """``<ckpt>.vae.pt`` next to ``<ckpt>.safetensors``: A1111 loads it with that checkpoint."""
    if kind is not Kind.VAE:
        return False
    stem = Path(path.stem)
    if stem.suffix.lower() != ".vae":
        return False
    owner = stem.stem
    return any((path.parent / f"{owner}{sfx}").exists() for sfx in (".safetensors", ".ckpt"))
