"""Render jobs: choose what to render, pick a base for each asset, run the grid, record verdicts.

The engine (:mod:`sdhub.models.render`) renders one asset on one base; this
module is the job around it (``sdhub render``, the browser's ``R`` key):

1. :func:`select_assets` — REFs resolved through the catalog, or ``--all``
   filtered by kind, family and ``--only-new``;
2. :func:`plan_renders` — for every asset the checkpoints it could render on,
   best first, or a verdict decided without loading anything (an unsafe
   pickle, a Flux LoRA, no checkpoint of its family, …);
3. :class:`RenderJob` — loads each base once (bases in one global order, so
   an asset whose first choice fails to load falls back to a base that has
   not been loaded yet), renders its assets, records every result in the
   catalog as soon as it is known. Ctrl-C leaves what finished recorded.

How a base is chosen (deterministic): a checkpoint renders itself. Any other
asset made for a known family gets the catalog's checkpoints of that family;
an asset whose family is unknown (tiny or odd-sized models) gets those whose
dimensions match its own: cross-attention width (``context_dim``) against a
LoRA's, the sum of an embedding's vector widths, one of a hypernetwork's
widths, a VAE's decoder entry/exit shapes. Among candidates: a checkpoint
whose last render was ``ok`` first, then ones not rendered yet, then the
rest; known family before unknown; newest file first; then by path.
``--base REF`` overrides the choice for every non-checkpoint asset.

No torch here: the engine imports it when the first base loads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sdhub.catalog import (
    AmbiguousRefError,
    Asset,
    Catalog,
    LocalFile,
    RefNotFoundError,
    WeightSource,
    list_assets,
    load_asset,
    record_render_result,
    resolve_ref,
)
from sdhub.catalog import RenderResult as RenderRow
from sdhub.models.kinds import Base, FileFormat, Kind, Verdict
from sdhub.models.render import (
    RENDERABLE_BASES,
    Grid,
    RenderAsset,
    RenderBase,
    RenderError,
    RenderResult,
    RenderVerdict,
    default_grid,
)
from sqlmodel import Session, select

if TYPE_CHECKING:
    from sdhub.models.render import RenderEngine

#: Kinds the engine renders.
RENDERED_KINDS: tuple[Kind, ...] = (
    Kind.CHECKPOINT,
    Kind.LORA,
    Kind.EMBEDDING,
    Kind.HYPERNETWORK,
    Kind.VAE,
)
#: Verdicts that fail a run whatever was asked for.
FAILING_VERDICTS = frozenset({RenderVerdict.ERROR, RenderVerdict.NAN, RenderVerdict.BLACK})
#: Verdicts that fail a run only for assets named on the command line (REF).
FAILING_WHEN_NAMED = frozenset({RenderVerdict.NO_EFFECT, RenderVerdict.INCOMPATIBLE})
_PICKLES = frozenset({FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY})
_KIND_ORDER = {k: i for i, k in enumerate(RENDERED_KINDS)}
_PLURALS = {
    Kind.CHECKPOINT: "checkpoints",
    Kind.LORA: "LoRAs",
    Kind.EMBEDDING: "embeddings",
    Kind.HYPERNETWORK: "hypernetworks",
    Kind.VAE: "VAEs",
}
_MESSAGE_PART = 120
_FILE_SUFFIXES = frozenset({".safetensors", ".ckpt", ".pt", ".pth", ".bin"})


def counts_as_failure(verdict: RenderVerdict, *, named: bool, strict: bool = False) -> bool:
    """The exit-status policy of ``sdhub render``.

    ``error``, ``nan`` and ``black`` always fail. ``no-effect`` and
    ``incompatible`` fail for an asset named on the command line (you asked
    for that asset to be tested: it was not, or it does nothing) and are
    reported without failing ``--all`` (a library may hold assets no local
    checkpoint fits). ``strict``: everything but ``ok`` fails.
    """
    if verdict is RenderVerdict.OK:
        return False
    if strict or verdict in FAILING_VERDICTS:
        return True
    return named and verdict in FAILING_WHEN_NAMED


class RenderJobError(Exception):
    """The job cannot start as asked (a bad ``--base``, no CUDA); the message says what to do."""


# --------------------------------------------------------------------------------------
# 1. Selection


@dataclass(frozen=True, slots=True)
class Selection:
    """What to render: REFs, or every asset (``all_``), filtered."""

    refs: tuple[str, ...] = ()
    all_: bool = False
    kind: Kind | None = None
    family: Base | None = None
    only_new: bool = False


@dataclass(frozen=True, slots=True)
class Chosen:
    """One asset to render; ``named``: asked for by REF (see :func:`counts_as_failure`)."""

    asset: Asset
    named: bool


@dataclass(slots=True)
class Selected:
    """The outcome of :func:`select_assets`."""

    chosen: list[Chosen] = field(default_factory=list)
    #: REFs that name nothing in the catalog: (ref, message).
    unresolved: list[tuple[str, str]] = field(default_factory=list)
    #: Why assets were left out, with how many: "not rendered (other)" → 3.
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def select_assets(session: Session, selection: Selection) -> Selected:
    """Resolve REFs (or ``--all``) to catalog assets and apply the filters.

    Raises :class:`~sdhub.catalog.AmbiguousRefError` for a REF that names
    several files (a usage error: the caller lists the candidates).
    ``--all`` leaves out files gone from disk and kinds that are not rendered
    (ControlNets, upscalers, …: counted in ``skipped``) but keeps unreadable
    and unsafe files, which get an ``error`` verdict.
    """
    out = Selected()
    candidates: list[Chosen] = []
    if selection.all_:
        for asset in list_assets(session):
            if asset.kind is Kind.OTHER:
                out.skip(f"{asset.kind.value} files are not rendered")
                continue
            candidates.append(Chosen(asset, named=False))
    seen = {c.asset.id for c in candidates}
    for ref in selection.refs:
        try:
            row = resolve_ref(session, ref)
        except RefNotFoundError as exc:
            out.unresolved.append((ref, str(exc)))
            continue
        assert row.id is not None
        if row.id in seen:
            continue
        seen.add(row.id)
        candidates.append(Chosen(load_asset(session, row.id), named=True))

    previous = _latest_render_rows(session, [c.asset.id for c in candidates])
    for chosen in candidates:
        asset = chosen.asset
        if selection.kind is not None and asset.kind is not selection.kind:
            out.skip(f"not of kind {selection.kind.value}")
            continue
        if selection.family is not None and asset.base is not selection.family:
            out.skip(f"not made for {selection.family.label}")
            continue
        if selection.only_new and not _needs_render(asset, previous.get(asset.id)):
            out.skip("rendered already (--only-new)")
            continue
        out.chosen.append(chosen)
    return out


def _latest_render_rows(session: Session, file_ids: Sequence[int]) -> dict[int, RenderRow]:
    latest: dict[int, RenderRow] = {}
    ids = sorted(set(file_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for row in session.exec(select(RenderRow).where(RenderRow.file_id.in_(chunk))):  # type: ignore[union-attr]
            fid = row.file_id
            assert fid is not None
            current = latest.get(fid)
            if current is None or (row.created, row.id or 0) > (current.created, current.id or 0):
                latest[fid] = row
    return latest


def _needs_render(asset: Asset, last: RenderRow | None) -> bool:
    """``--only-new``: never rendered, rendered on no base (none was there), or changed since."""
    if last is None:
        return True
    params = _params_of(last)
    if params.get("no_base"):
        return True
    sha = params.get("sha256")
    if sha and asset.hashes and sha != asset.hashes.sha256:
        return True
    stamp = _stat(Path(asset.path))
    if stamp is None:
        return True
    if "size" in params and "mtime_ns" in params:
        return (params["size"], params["mtime_ns"]) != stamp
    return stamp[1] > int(last.created.timestamp() * 1e9)


def _params_of(row: RenderRow) -> dict[str, Any]:
    params = row.params
    if isinstance(params, str | bytes):
        try:
            params = json.loads(params)
        except ValueError:
            return {}
    return params if isinstance(params, dict) else {}


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


# --------------------------------------------------------------------------------------
# 2. Planning


@dataclass(slots=True)
class BaseCandidate:
    """A catalogued checkpoint that assets may render on."""

    file_id: int
    path: Path
    name: str
    family: Base
    hashes: Any
    context_dim: int | None
    #: Sort key of the global base order (see the module docstring).
    rank: tuple[Any, ...]
    #: Why it cannot serve as a base (unsafe, unreadable, unsupported family), else None.
    unusable: Unusable | None = None
    _vae: list[Any] = field(default_factory=list, repr=False)

    def render_base(self) -> RenderBase:
        return RenderBase(path=self.path, name=self.name, family=self.family, hashes=self.hashes)

    def vae_signature(self) -> Any:
        """Its baked-in VAE's decoder shapes (read once, from the header)."""
        if not self._vae:
            fmt = _format_of(self.path)
            self._vae.append(vae_signature(self.path, fmt, prefixes=("first_stage_model.",)))
        return self._vae[0]


@dataclass(slots=True)
class Task:
    """One asset of the plan: the bases it may use (best first), or a verdict already."""

    asset: Asset
    named: bool
    candidates: list[BaseCandidate] = field(default_factory=list)
    #: Decided without rendering (unsafe, unreadable, no base, …).
    verdict: RenderVerdict | None = None
    message: str | None = None
    #: The verdict is about the lack of a base, not the asset (``--only-new`` retries it).
    no_base: bool = False
    #: Bases tried that failed to load: (name, message).
    tried: list[tuple[str, str]] = field(default_factory=list)

    def decide(self, verdict: RenderVerdict, message: str, *, no_base: bool = False) -> None:
        self.verdict, self.message, self.no_base = verdict, message, no_base

    def render_asset(self) -> RenderAsset:
        return render_asset_of(self.asset)


@dataclass(slots=True)
class RenderPlan:
    """Every task, and every checkpoint involved in the global base order."""

    tasks: list[Task]
    bases: list[BaseCandidate]
    override: BaseCandidate | None = None

    @property
    def to_render(self) -> list[Task]:
        return [t for t in self.tasks if t.verdict is None]

    @property
    def decided(self) -> list[Task]:
        return [t for t in self.tasks if t.verdict is not None]


def render_asset_of(asset: Asset) -> RenderAsset:
    """What the engine needs to know about a catalog asset."""
    weight = None
    if asset.weight is not None and asset.weight.source is not WeightSource.DEFAULT:
        weight = asset.weight.default
    return RenderAsset(
        path=Path(asset.path),
        kind=asset.kind,
        name=asset.name,
        base=asset.base,
        trigger_words=tuple(asset.trigger_words),
        recommended_weight=weight,
        negative=asset.negative,
        hashes=asset.hashes,
    )


def plan_renders(
    session: Session, chosen: Sequence[Chosen], *, base_ref: str | None = None
) -> RenderPlan:
    """Pick the bases each asset may render on (no file is loaded; headers at most).

    ``base_ref``: ``--base REF``, the checkpoint every non-checkpoint asset
    renders on. Raises :class:`RenderJobError` when it names no usable
    checkpoint, :class:`~sdhub.catalog.AmbiguousRefError` when it names several.
    """
    checkpoints = _checkpoints(session)
    by_id = {c.file_id: c for c in checkpoints}
    override = _override(session, base_ref, by_id) if base_ref else None
    tasks: list[Task] = []
    for item in chosen:
        task = Task(item.asset, item.named)
        _plan_one(task, checkpoints, by_id, override)
        tasks.append(task)
    involved = {c.file_id: c for t in tasks for c in t.candidates}
    bases = sorted(involved.values(), key=lambda c: c.rank)
    if override is not None and override in bases:
        bases.remove(override)
        bases.insert(0, override)  # checked first: a broken --base stops the job at once
    return RenderPlan(tasks=tasks, bases=bases, override=override)


def _override(session: Session, ref: str, by_id: dict[int, BaseCandidate]) -> BaseCandidate:
    try:
        row = resolve_ref(session, ref)
    except RefNotFoundError as exc:
        raise RenderJobError(f"--base {ref}: {exc}") from None
    candidate = by_id.get(row.id or -1)
    if candidate is None:
        raise RenderJobError(
            f"--base {ref}: {Path(row.path).name} is not a checkpoint (kind {Kind(row.kind).value})"
            if not row.missing
            else f"--base {ref}: {row.path} is gone (run `sdhub scan`)"
        )
    if candidate.unusable:
        raise RenderJobError(f"--base {ref}: {candidate.unusable.message}")
    return candidate


def _checkpoints(session: Session) -> list[BaseCandidate]:
    """Every present checkpoint of the catalog, in the global base order."""
    assets = list_assets(session, kind=Kind.CHECKPOINT)
    rows = session.connection().execute(
        sa.select(LocalFile.id, LocalFile.mtime_ns).where(  # type: ignore[call-overload]
            LocalFile.kind == Kind.CHECKPOINT
        )
    )
    mtimes = {file_id: mtime for file_id, mtime in rows}
    out = []
    for asset in assets:
        verdict = asset.render.verdict if asset.render else None
        verdict_rank = 0 if verdict == RenderVerdict.OK.value else 1 if verdict is None else 2
        context = asset.details.get("context_dim")
        out.append(
            BaseCandidate(
                file_id=asset.id,
                path=Path(asset.path),
                name=asset.name,
                family=asset.base,
                hashes=asset.hashes,
                context_dim=context if isinstance(context, int) else None,
                rank=(
                    verdict_rank,
                    asset.base is Base.UNKNOWN,
                    -(mtimes.get(asset.id) or 0),
                    asset.path,
                ),
                unusable=_unusable(asset),
            )
        )
    out.sort(key=lambda c: c.rank)
    return out


@dataclass(frozen=True, slots=True)
class Unusable:
    """Why a file cannot be loaded at all (then it is never handed to the engine)."""

    message: str
    #: Two or three words for lists ("unsafe pickle").
    short: str


def _unusable(asset: Asset) -> Unusable | None:
    if asset.missing or not os.path.exists(asset.path):
        return Unusable(
            f"{asset.filename} is gone (run `sdhub scan` to update the catalog)", "file gone"
        )
    if asset.kind is Kind.INVALID or asset.error:
        return Unusable(
            f"{asset.filename} is not a model file sdhub can read: {asset.error or 'invalid'}",
            "unreadable",
        )
    if asset.format in _PICKLES and asset.safety.verdict is not Verdict.SAFE:
        safety = asset.safety
        why = f" ({safety.reason})" if safety.reason else ""
        if not why and safety.globals:
            why = f" ({', '.join(safety.globals[:3])})"
        return Unusable(
            f"refused to load {asset.filename}: the pickle scan says {safety.verdict.value}{why}",
            f"{safety.verdict.value} pickle",
        )
    if asset.format is FileFormat.UNKNOWN:
        return Unusable(f"{asset.filename} is neither safetensors nor a torch file", "not a model")
    return None


def _plan_one(
    task: Task,
    checkpoints: list[BaseCandidate],
    by_id: dict[int, BaseCandidate],
    override: BaseCandidate | None,
) -> None:
    asset = task.asset
    problem = _unusable(asset)
    if problem is not None:
        task.decide(RenderVerdict.ERROR, problem.message)
        return
    if asset.kind not in RENDERED_KINDS:
        what = asset.component.value if asset.component else asset.kind.value
        task.decide(
            RenderVerdict.INCOMPATIBLE,
            f"{what} files are not rendered (only checkpoints, LoRAs, embeddings, "
            "hypernetworks and VAEs)",
        )
        return
    if asset.base not in RENDERABLE_BASES and asset.base is not Base.UNKNOWN:
        task.decide(
            RenderVerdict.INCOMPATIBLE,
            f"cannot render {asset.base.label} {_PLURALS[asset.kind]} "
            "(sdhub renders SD1, SD2 and SDXL)",
        )
        return
    if asset.kind is Kind.CHECKPOINT:
        task.candidates = [by_id[asset.id]]
        return
    if override is not None:
        task.candidates = [override]
        return
    usable = [c for c in checkpoints if c.unusable is None]
    task.candidates = [c for c in usable if _fits(asset, c)]
    if not task.candidates:
        task.decide(RenderVerdict.INCOMPATIBLE, _no_base_message(asset, checkpoints), no_base=True)


def _fits(asset: Asset, base: BaseCandidate) -> bool:
    if asset.base is not Base.UNKNOWN and base.family is asset.base:
        return True
    if base.family not in (Base.UNKNOWN, *RENDERABLE_BASES):
        return False
    if asset.base is not Base.UNKNOWN and base.family is not Base.UNKNOWN:
        return False
    return _dims_fit(asset, base)


def _ints(value: Any) -> list[int] | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if isinstance(value, list | tuple) and value and all(isinstance(v, int) for v in value):
        return list(value)
    return None


def _dims_fit(asset: Asset, base: BaseCandidate) -> bool:
    """Do an asset's dimensions fit a checkpoint's (for assets of unknown family)?"""
    details = asset.details
    ctx = base.context_dim
    if asset.kind is Kind.VAE:
        mine = vae_signature(Path(asset.path), asset.format, prefixes=("", "first_stage_model."))
        return mine is not None and mine == base.vae_signature()
    if ctx is None:
        return False
    if asset.kind is Kind.LORA:
        return _ints(details.get("context_dim")) == [ctx]
    if asset.kind is Kind.EMBEDDING:
        widths = _ints(details.get("widths")) or _ints(details.get("width"))
        return widths is not None and sum(widths) == ctx
    if asset.kind is Kind.HYPERNETWORK:
        widths = _ints(details.get("widths"))
        return widths is not None and ctx in widths
    return False


def _dims_text(asset: Asset) -> str | None:
    details = asset.details
    for key in ("context_dim", "widths", "width"):
        if details.get(key) is not None:
            return f"{key} {details[key]}"
    return None


def _no_base_message(asset: Asset, checkpoints: list[BaseCandidate]) -> str:
    if asset.base is not Base.UNKNOWN:
        same = [c for c in checkpoints if c.family is asset.base]
        label = asset.base.label
        if not same:
            return f"no {label} checkpoint in the catalog; add one or pass --base"
        reasons = "; ".join(f"{c.name}: {c.unusable.short}" for c in same[:3] if c.unusable)
        return f"no usable {label} checkpoint in the catalog ({reasons}); add one or pass --base"
    dims = _dims_text(asset)
    if asset.kind is Kind.VAE:
        return (
            "its base family is unknown and no checkpoint in the catalog has a VAE of its "
            "shape; pass --base"
        )
    if dims is None:
        return "its base family is unknown and it has no dimensions to match; pass --base"
    return (
        f"its base family is unknown and no checkpoint in the catalog has its dimensions "
        f"({dims}); pass --base"
    )


def gist(message: str) -> str:
    """The first clause of an engine message, without the file name it starts with.

    "x.safetensors cannot load: UNet: 673 tensor(s) missing, …" → "cannot
    load"; the whole message stays on the checkpoint's own result.
    """
    text = " ".join(message.split())
    first, _, rest = text.partition(" ")
    if rest and Path(first).suffix.lower() in _FILE_SUFFIXES:
        text = rest
    head = text.split(": ", 1)[0]
    return head if len(head) <= _MESSAGE_PART else head[: _MESSAGE_PART - 1] + "…"


def _format_of(path: Path) -> FileFormat:
    from sdhub.models.sniff import sniff_format

    try:
        return sniff_format(path)
    except OSError:
        return FileFormat.UNKNOWN


def vae_signature(
    path: Path, fmt: FileFormat, *, prefixes: Sequence[str]
) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The shapes of a VAE decoder's entry and exit convolutions, from the file's header.

    The same names in LDM and diffusers layouts; a VAE fits a checkpoint
    whose baked-in VAE has the same two shapes (latent channels and widths).
    Reads the tensor index only (the restricted reader for pickles).
    """
    try:
        if fmt is FileFormat.SAFETENSORS:
            from sdhub.models.safetensors_index import read_safetensors_index

            index = read_safetensors_index(path)
        elif fmt in _PICKLES:
            from sdhub.models.pickle_index import read_pickle_index

            index = read_pickle_index(path, fmt)
        else:
            return None
    except Exception:  # an unreadable header just means "no match"
        return None
    for prefix in prefixes:
        conv_in = index.shape(f"{prefix}decoder.conv_in.weight")
        conv_out = index.shape(f"{prefix}decoder.conv_out.weight")
        if conv_in and conv_out:
            return conv_in, conv_out
    return None


# --------------------------------------------------------------------------------------
# 3. Running


@dataclass(slots=True)
class JobResult:
    """One asset's outcome, recorded in the catalog."""

    result: RenderResult
    file_id: int
    named: bool
    base_file_id: int | None = None

    @property
    def verdict(self) -> RenderVerdict:
        return self.result.verdict

    def failed(self, *, strict: bool = False) -> bool:
        return counts_as_failure(self.result.verdict, named=self.named, strict=strict)

    def to_json(self) -> dict[str, Any]:
        """The ``sdhub render --json`` line (CLI.md)."""
        return self.result.to_json()


#: ``on_start(task, index, total)``: an asset is about to render (index from 1).
StartCallback = Callable[[Task, int, int], None]
#: ``on_image(done, planned)``: images of the current asset (after every batch).
ImageCallback = Callable[[int, int], None]
#: ``on_base(name)``: a base checkpoint is about to load.
BaseCallback = Callable[[str], None]


class RenderJob:
    """Runs a :class:`RenderPlan`: each base loads once; every result is recorded at once.

    ``grid``: the grid file's grid, used as is. None: the shipped grid, at
    the native size of a checkpoint that brings its own config folder
    (``<stem>.diffusers/``: tiny and odd-sized models render at the size
    they were made for, as SD2 and SDXL do through the grid's family tables).
    """

    def __init__(
        self,
        catalog: Catalog,
        plan: RenderPlan,
        out_dir: Path,
        *,
        grid: Grid | None = None,
        device: str = "auto",
        engine: RenderEngine | None = None,
    ) -> None:
        self.catalog = catalog
        self.plan = plan
        self.out_dir = out_dir
        self.grid = grid
        self.device = device
        self._engine = engine
        self._own_engine = engine is None
        #: Bases that loaded, in order (each at most once: see the module docstring).
        self.loaded: list[str] = []
        self._on_base: BaseCallback | None = None
        self._on_start: StartCallback | None = None
        self._started = 0

    # --- the engine ---------------------------------------------------------------------

    def _get_engine(self) -> RenderEngine:
        if self._engine is None:
            from sdhub.models.render import RenderEngine

            self._engine = RenderEngine(device=self.device)
        try:
            self._engine.device  # noqa: B018 - resolves the device (imports torch)
        except RenderError as exc:
            raise RenderJobError(exc.message) from None
        return self._engine

    def close(self) -> None:
        if self._own_engine and self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> RenderJob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the run ------------------------------------------------------------------------

    def run(
        self,
        *,
        on_start: StartCallback | None = None,
        on_image: ImageCallback | None = None,
        on_base: BaseCallback | None = None,
    ) -> Iterator[JobResult]:
        """Render the plan, yielding each result once it is recorded.

        Decided tasks come first (instantly), then base by base. Raises
        :class:`RenderJobError` when ``--base`` cannot load or the device is
        missing (nothing rendered is lost). ``KeyboardInterrupt`` from a
        callback or the engine propagates; results yielded so far are in the
        catalog.
        """
        self._on_base, self._on_start, self._started = on_base, on_start, 0
        plan = self.plan
        if plan.to_render:
            self._get_engine()  # a missing device stops the job before anything is recorded
        if plan.override is not None and plan.to_render:
            self._check_override(plan.override)
        for task in plan.decided:
            self._start(task)
            yield self._record(task, self._decided_result(task), None, None)

        pending = list(plan.to_render)
        for base in plan.bases:  # the global order: a fallback base is always still ahead
            group = [t for t in pending if t.candidates and t.candidates[0] is base]
            if not group:
                continue
            for task in group:
                pending.remove(task)
            error = self._load(base)
            if error is None:
                yield from self._render_group(base, group, on_image)
            else:
                yield from self._base_failed(base, error, group, pending)
        assert not pending, "every task ends with a result"

    def _start(self, task: Task) -> None:
        self._started += 1
        if self._on_start is not None:
            self._on_start(task, self._started, len(self.plan.tasks))

    def _render_group(
        self, base: BaseCandidate, group: list[Task], on_image: ImageCallback | None
    ) -> Iterator[JobResult]:
        """Every asset of one loaded base: the checkpoint itself first."""
        grid = self._grid_for(base)
        engine = self._get_engine()
        for task in sorted(group, key=_task_order):
            self._start(task)
            result = engine.render_asset(
                task.render_asset(), base.render_base(), grid, self.out_dir, on_image=on_image
            )
            yield self._record(task, result, base, grid)

    def _base_failed(
        self, base: BaseCandidate, error: RenderError, group: list[Task], pending: list[Task]
    ) -> Iterator[JobResult]:
        """The checkpoint gets the load error; its assets move on to their next choice."""
        for task in group:
            if task.asset.kind is Kind.CHECKPOINT:
                self._start(task)
                result = self._result(task, base, error.verdict, error.message)
                yield self._record(task, result, base, None)
                continue
            task.tried.append((base.name, error.message))
            task.candidates.pop(0)
            if task.candidates:
                pending.append(task)
                continue
            task.decide(RenderVerdict.INCOMPATIBLE, self._all_failed(task), no_base=True)
            self._start(task)
            yield self._record(task, self._decided_result(task), None, None)

    def _check_override(self, base: BaseCandidate) -> None:
        error = self._load(base)
        if error is not None:
            raise RenderJobError(f"--base {base.name} cannot be used: {error.message}")

    def _load(self, base: BaseCandidate) -> RenderError | None:
        engine = self._get_engine()
        if base.unusable:
            return RenderError(RenderVerdict.ERROR, base.unusable.message)
        if self._on_base is not None:
            self._on_base(base.name)
        try:
            engine.load(base.render_base())
        except RenderError as exc:
            return exc
        except (KeyboardInterrupt, MemoryError):
            raise
        except Exception as exc:  # one broken file must not end the job
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return RenderError(RenderVerdict.ERROR, f"{base.path.name} cannot load: {first}")
        if base.name not in self.loaded:
            self.loaded.append(base.name)
        return None

    def _grid_for(self, base: BaseCandidate) -> Grid:
        if self.grid is not None:
            return self.grid
        grid = default_grid()
        native = native_size(base.path)
        if native is not None:
            return grid.with_size(native, native)
        return grid

    @staticmethod
    def _all_failed(task: Task) -> str:
        tried = "; ".join(f"{name}: {gist(msg)}" for name, msg in task.tried)
        asset = task.asset
        label = f"{asset.base.label} " if asset.base is not Base.UNKNOWN else "fitting "
        return f"no loadable {label}checkpoint ({tried}); add one or pass --base"

    @staticmethod
    def _decided_result(task: Task) -> RenderResult:
        assert task.verdict is not None
        return RenderResult(
            asset=task.render_asset(), base=None, verdict=task.verdict, message=task.message
        )

    @staticmethod
    def _result(
        task: Task, base: BaseCandidate, verdict: RenderVerdict, message: str
    ) -> RenderResult:
        return RenderResult(
            asset=task.render_asset(), base=base.render_base(), verdict=verdict, message=message
        )

    def _record(
        self,
        task: Task,
        result: RenderResult,
        base: BaseCandidate | None,
        grid: Grid | None,
    ) -> JobResult:
        """Write the result to the catalog (its own transaction: Ctrl-C keeps it)."""
        asset = task.asset
        stamp = _stat(Path(asset.path))
        params: dict[str, Any] = {
            "sha256": asset.hashes.sha256 if asset.hashes else None,
            "grid": grid.fingerprint() if grid is not None else None,
        }
        if stamp is not None:
            params["size"], params["mtime_ns"] = stamp
        if task.no_base:
            params["no_base"] = True
        if base is not None and base.hashes is not None:
            params["base_sha256"] = base.hashes.sha256
        if result.images:
            params["timings"] = result.timings.to_json()
            if self._engine is not None:
                params["device"] = self._engine.device
        if result.touched_modules is not None:
            params["touched_modules"] = result.touched_modules
        base_id = base.file_id if base is not None and result.base is not None else None
        with self.catalog.transaction() as session:
            record_render_result(
                session,
                file_id=asset.id,
                verdict=result.verdict.value,
                base_file_id=base_id,
                base_name=result.base.name if result.base else None,
                base_path=str(result.base.path) if result.base else None,
                grid_path=str(result.grid_path) if result.grid_path else None,
                images=result.images,
                seconds=round(result.seconds, 3),
                message=result.message,
                params=params,
            )
        return JobResult(result=result, file_id=asset.id, named=task.named, base_file_id=base_id)


def _task_order(task: Task) -> tuple[Any, ...]:
    """Within a base: the checkpoint itself first, then by kind and name."""
    return (_KIND_ORDER.get(task.asset.kind, 99), task.asset.name.lower(), task.asset.path)


def native_size(checkpoint: Path) -> int | None:
    """The image size a checkpoint's own config folder (``<stem>.diffusers/``) was made for.

    UNet ``sample_size`` × the VAE's scale (2 per down block after the
    first); None when the checkpoint has no such folder.
    """
    from sdhub.models.render.tiny import sidecar_config_dir

    folder = sidecar_config_dir(checkpoint)
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
        vae = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
        sample = int(unet["sample_size"])
        blocks = len(vae["block_out_channels"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sample * 2 ** max(0, blocks - 1)


__all__ = [
    "FAILING_VERDICTS",
    "FAILING_WHEN_NAMED",
    "RENDERED_KINDS",
    "AmbiguousRefError",
    "BaseCandidate",
    "Chosen",
    "JobResult",
    "RenderJob",
    "RenderJobError",
    "RenderPlan",
    "Selected",
    "Selection",
    "Task",
    "counts_as_failure",
    "native_size",
    "plan_renders",
    "render_asset_of",
    "select_assets",
    "vae_signature",
]
