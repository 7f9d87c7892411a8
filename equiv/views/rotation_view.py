"""Everything the rotation lab shows for one state of its controls, built from prepared panels.

A :class:`Panel` is a model (or the GFN2-xTB reference) with its outputs f(x) for the molecule as
given: prepared once per molecule and model (the page caches them). A rotation change then costs
one forward pass with forces per model (:func:`rotate`); a spin or an error-versus-angle curve
costs one batched pass over a full turn (:func:`turn`).

The molecule is centred on its centre of mass first (:func:`centred`), so turning it keeps it in
view; the models are translation invariant, so this changes none of their outputs.
"""

from __future__ import annotations

import functools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from equiv.errors import EquivError
from equiv.models import EnergyModel
from equiv.molecules import Molecule, load_molecule, load_snapshot
from equiv.views.rotation_lab import (
    MAX_MODEL_ATOMS,
    MAX_MODEL_PAIRS,
    PAIR_CUTOFF,
    MAX_XTB_ATOMS,
    Comparison,
    Outputs,
    compare,
    evaluate,
    neighbour_pairs,
    turntable_angles,
    turntable_transforms,
    xtb_outputs,
)
from equiv.views.rotation_models import ModelSource, load_source
from equiv.views.rotation_settings import MIRROR, PANEL_TITLES, RotationSettings
from equiv.views.scene3d import PanelInfo, arrow_scale, bonds, build_scene, panel_frame, scene_key, verdict

__all__ = [
    "TURN_FRAMES",
    "Panel",
    "RotationResult",
    "TurnResult",
    "REFERENCE_COLUMNS",
    "XTB_TURN_BUDGET_S",
    "centred",
    "library_geometry",
    "is_identity",
    "prepare_panel",
    "reference_agreement",
    "reference_curves",
    "rotate",
    "table_rows",
    "turn",
    "turn_frames",
    "turn_panel",
    "turn_scene",
]

#: The spin computes GFN2-xTB for every frame only when that is expected to take less than this.
XTB_TURN_BUDGET_S = 2.0


def is_identity(g: np.ndarray) -> bool:
    """Whether the transformation does nothing (to rounding)."""
    return bool(np.allclose(g, np.eye(3), atol=1e-12))


def centred(molecule: Molecule) -> Molecule:
    """The molecule with its centre of mass at the origin (rotations turn it in place)."""
    return molecule.centered()


@dataclass(frozen=True)
class Panel:
    """One viewer: a model or the reference, ready to be turned.

    Attributes:
        id: panel key (see :data:`equiv.views.rotation_settings.PANELS`).
        title, subtitle: heading and where the model comes from.
        model: the model (``None`` for the reference).
        base: f(x) for the centred molecule (``None`` when the panel has nothing to compute).
        note: why nothing is computed (e.g. the molecule is too large for xTB), or "".
        seconds: wall time of one evaluation of f(x) (for the reference's time budget).
    """

    id: str
    title: str
    subtitle: str
    model: object | None
    base: Outputs | None
    note: str = ""
    seconds: float = 0.0

    @property
    def active(self) -> bool:
        return self.base is not None


def library_geometry(key: str, geometry: str) -> tuple[Molecule, bool]:
    """The lab's molecule for library ``key``: its 500 K snapshot when ``geometry`` is
    ``"snapshot"`` and one is shipped, else the relaxed library geometry; and whether it is the
    snapshot."""
    snapshot = load_snapshot(key) if geometry == "snapshot" else None
    return (snapshot, True) if snapshot is not None else (load_molecule(key), False)


def prepare_panel(panel_id: str, source: ModelSource | None, molecule: Molecule) -> Panel:
    """Load the model of ``source`` (``None`` for the xTB reference) and evaluate f(x) for the
    centred ``molecule``. A model that cannot take the molecule gives a panel with a note."""
    title = PANEL_TITLES.get(panel_id, panel_id)
    x = centred(molecule)
    if panel_id == "xtb":
        subtitle = "forces −∂E/∂r, tblite"
        if molecule.n_atoms > MAX_XTB_ATOMS:
            return Panel(panel_id, title, subtitle, None, None,
                         f"not computed: {molecule.n_atoms} atoms (shown up to {MAX_XTB_ATOMS}, to stay well under a second)")
        try:
            base, seconds = xtb_outputs(x.numbers, x.positions)
        except EquivError as exc:
            return Panel(panel_id, title, subtitle, None, None, str(exc))
        return Panel(panel_id, title, subtitle, None, base, seconds=seconds)
    if source is None:
        raise EquivError(f"panel {panel_id!r} needs a model source")
    pairs = neighbour_pairs(x.positions) if molecule.n_atoms <= MAX_MODEL_ATOMS else None
    if pairs is None or pairs > MAX_MODEL_PAIRS:
        size = f"{molecule.n_atoms} atoms" + (f" with {pairs:,} neighbour pairs within {PAIR_CUTOFF:g} Å" if pairs else "")
        return Panel(panel_id, title, source.label, None, None,
                     f"not computed: {size} (models are shown up to {MAX_MODEL_ATOMS} atoms and {MAX_MODEL_PAIRS:,} "
                     "pairs, to keep the page responsive and its memory bounded on this server)")
    try:
        model = load_source(source, tuple(int(z) for z in x.numbers))
        t0 = time.perf_counter()
        (base,) = evaluate(model, x.numbers, [x.positions])
        seconds = time.perf_counter() - t0
    except EquivError as exc:
        return Panel(panel_id, title, source.label, None, None, str(exc))
    return Panel(panel_id, title, source.label, model, base, seconds=seconds)


def _outputs(panel: Panel, numbers: np.ndarray, positions: Sequence[np.ndarray]) -> list[Outputs] | None:
    if not panel.active:
        return None
    if panel.model is None:  # the reference
        return [xtb_outputs(numbers, p)[0] for p in positions]
    return evaluate(panel.model, numbers, positions)  # type: ignore[arg-type]


def _panel_infos(panels: Sequence[Panel], kind: str, common_scale: bool = False) -> list[PanelInfo]:
    """Each panel's heading and arrow scale: its own longest arrow :data:`LONGEST_ARROW` long, or
    with ``common_scale`` one scale for every panel (the longest arrow of all panels), so lengths
    compare across panels. Atom vectors have no common unit, so only forces share a scale."""
    infos = []
    shown = []
    for p in panels:
        vectors = None if p.base is None else p.base.vectors(kind)
        shown_kind = kind if vectors is not None else "forces"
        if vectors is None and p.base is not None:
            vectors = p.base.forces
        shown.append((shown_kind, vectors))
    forces = [v for k, v in shown if k == "forces" and v is not None]
    common = arrow_scale(np.concatenate(forces)) if common_scale and forces else None
    for p, (shown_kind, vectors) in zip(panels, shown):
        unit = "eV/Å" if shown_kind == "forces" else "(model units)"
        subtitle = p.subtitle + (" · forces (no atom vectors)" if shown_kind != kind else "")
        scale = common if common is not None and shown_kind == "forces" and vectors is not None else arrow_scale(vectors)
        infos.append(PanelInfo(p.id, p.title, subtitle, scale, unit, p.note))
    return infos


def reference_agreement(comparisons: dict[str, Comparison], reference: str = "xtb") -> dict[str, tuple[float, float]]:
    """Panel id → (force MAE in meV/Å per Cartesian component, mean cosine over atoms) of each
    model's f(g·x) against the reference's forces for the same geometry; empty without the reference."""
    ref = comparisons.get(reference)
    if ref is None:
        return {}
    f_ref = ref.rotated.forces  # [n_atoms, 3] eV/Å
    out = {}
    for pid, c in comparisons.items():
        if pid == reference:
            continue
        f = c.rotated.forces  # [n_atoms, 3]
        norms = np.linalg.norm(f, axis=1) * np.linalg.norm(f_ref, axis=1)  # [n_atoms]
        cos = np.divide((f * f_ref).sum(axis=1), norms, out=np.zeros_like(norms), where=norms > 0)
        out[pid] = (1000.0 * float(np.abs(f - f_ref).mean()), float(cos.mean()))
    return out


def reference_curves(result: "TurnResult", reference_forces: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Force MAE (meV/Å) of every model panel of a turn against the reference over the turn, and the
    zero-force line. The reference is exactly equivariant (GFN2-xTB forces turn with the molecule),
    so its forces for frame k are g_k·F(x): one reference calculation, not one per frame.

    Args:
        result: :class:`TurnResult`; reference_forces: F(x) ``[n_atoms, 3]`` eV/Å for the unturned molecule.

    Returns:
        ({panel id: MAE per frame ``[n]``}, zero-force MAE per frame ``[n]``), meV/Å.
    """
    expected = np.einsum("kij,aj->kai", result.transforms, reference_forces)  # [n, n_atoms, 3]
    zero = 1000.0 * np.abs(expected).mean(axis=(1, 2))  # [n]
    curves = {}
    for pid, comps in result.comparisons.items():
        if pid == "xtb":
            continue
        predicted = np.stack([c.rotated.forces for c in comps])  # [n, n_atoms, 3]
        curves[pid] = 1000.0 * np.abs(predicted - expected).mean(axis=(1, 2))
    return curves, zero


@dataclass(frozen=True)
class RotationResult:
    """What one state of the controls shows.

    Attributes:
        transform: g ``[3, 3]``; positions: g·x ``[n, 3]``.
        comparisons: panel id → :class:`Comparison` (active panels only).
        scene: the viewer's arguments (one frame).
        seconds: wall time of each panel's evaluation.
    """

    transform: np.ndarray
    positions: np.ndarray
    comparisons: dict[str, Comparison]
    scene: dict
    seconds: dict[str, float] = field(default_factory=dict)


#: Frames of a full turn (10° steps): one batched pass per model for the spin and the error plot.
TURN_FRAMES = 36

#: Runs the GFN2-xTB reference beside the models: tblite computes in compiled code without the
#: GIL, so on two cores the reference costs no wall time while the models evaluate (one worker:
#: at most one reference calculation at a time for the whole server).
_REFERENCE_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="xtb-reference")


def _timed_outputs(panel: Panel, numbers: np.ndarray, positions: Sequence[np.ndarray]) -> tuple[list[Outputs] | None, float]:
    t0 = time.perf_counter()
    outs = _outputs(panel, numbers, positions)
    return outs, time.perf_counter() - t0


def rotate(molecule: Molecule, panels: Sequence[Panel], settings: RotationSettings, height: int = 420) -> RotationResult:
    """Evaluate every panel on the transformed molecule (the reference in a thread of its own,
    while the models evaluate) and build the one-frame scene."""
    x = centred(molecule)
    g = settings.matrix().numpy()
    pos = x.positions @ g.T  # [n, 3]
    reference = {p.id: _REFERENCE_POOL.submit(_timed_outputs, p, x.numbers, [pos])
                 for p in panels if p.active and p.model is None}
    evaluated = {p.id: _timed_outputs(p, x.numbers, [pos]) for p in panels if p.id not in reference}
    evaluated.update({pid: job.result() for pid, job in reference.items()})
    comparisons: dict[str, Comparison] = {}
    seconds: dict[str, float] = {}
    for p in panels:
        outs, seconds[p.id] = evaluated[p.id]
        if outs is not None:
            comparisons[p.id] = compare(p.base, outs[0], g)  # type: ignore[arg-type]
    scene = _scene(x, _panel_infos(panels, settings.vectors, settings.scale == "common"), [pos], [g], [comparisons], settings,
                   transform_label=settings.description(), height=height)
    return RotationResult(g, pos, comparisons, scene, seconds)


def _scene(x: Molecule, infos: Sequence[PanelInfo], positions: Sequence[np.ndarray], transforms: Sequence[np.ndarray],
           comparisons: Sequence[dict[str, Comparison]], settings: RotationSettings, **options) -> dict:
    """The viewer's arguments for the centred molecule ``x`` turned into each of ``positions``
    ``[n_atoms, 3]`` by ``transforms`` ``[3, 3]``, with each frame's comparisons (panel id →
    :class:`Comparison`); ``options`` go to :func:`~equiv.views.scene3d.build_scene`."""
    frames = [
        {info.id: panel_frame(pos, comps.get(info.id), settings.vectors, info.scale, settings.overlay) for info in infos}
        for pos, comps in zip(positions, comparisons)
    ]
    return build_scene(
        key=scene_key(x.name, x.numbers, x.positions),
        numbers=x.numbers,
        bond_list=bonds(x.numbers, x.positions),
        panels=infos,
        frames_positions=list(positions),
        frames=frames,
        identities=[is_identity(g) for g in transforms],
        kind=settings.vectors,
        overlay=settings.overlay,
        **options,
    )


@dataclass(frozen=True)
class TurnResult:
    """A full turn about an axis: ``n`` transforms and each panel's comparison per frame.

    Attributes:
        angles: degrees ``[n]``; transforms: ``[n, 3, 3]``; positions: ``[n, n_atoms, 3]``.
        comparisons: panel id → one :class:`Comparison` per frame (panels not computed are absent).
        notes: panel id → why a panel was not computed over the turn.
    """

    angles: np.ndarray
    transforms: np.ndarray
    positions: np.ndarray
    comparisons: dict[str, list[Comparison]]
    notes: dict[str, str]


def turn_frames(molecule: Molecule, axis: Sequence[float], start: np.ndarray, reflect: bool,
                n_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Angles ``[n]`` (degrees), transforms ``[n, 3, 3]`` and positions ``[n, n_atoms, 3]`` of a turn
    about ``axis`` by 0, 360/n, … degrees after the rotation ``start`` (then the mirror if ``reflect``)."""
    x = centred(molecule)
    angles = turntable_angles(n_frames)
    g = turntable_transforms(axis, angles, start, MIRROR if reflect else None)  # [n, 3, 3]
    return angles, g, np.einsum("kij,aj->kai", g, x.positions)


def turn_panel(molecule: Molecule, panel: Panel, axis: Sequence[float], start: np.ndarray, reflect: bool,
               n_frames: int) -> list[Comparison] | str:
    """One panel over a turn (see :func:`turn_frames`), in one batch: a comparison per frame, or a
    note saying why it is not computed (inactive panel; xTB over :data:`XTB_TURN_BUDGET_S`)."""
    if not panel.active:
        return panel.note or "not computed"
    if panel.model is None and panel.seconds * n_frames > XTB_TURN_BUDGET_S:
        return f"GFN2-xTB for {n_frames} frames would take about {panel.seconds * n_frames:.0f} s: not computed for the spin"
    _, g, positions = turn_frames(molecule, axis, start, reflect, n_frames)
    numbers = molecule.numbers  # centring moves atoms, never renames them
    if panel.model is None:
        outs = _outputs(panel, numbers, list(positions))
    else:
        frames = np.ascontiguousarray(positions, dtype=np.float64)  # [n_frames, n_atoms, 3]
        outs = _turned_outputs(panel.model, tuple(int(z) for z in numbers), frames.tobytes(), frames.shape)
    return [compare(panel.base, o, gk) for o, gk in zip(outs, g)]  # type: ignore[arg-type]


@functools.lru_cache(maxsize=32)
def _turned_outputs(model: EnergyModel, numbers: tuple[int, ...], positions: bytes, shape: tuple[int, ...]) -> list[Outputs]:
    """A model's outputs on the frames of a turn (``positions`` ``[n_frames, n_atoms, 3]`` as bytes),
    kept for the whole server: the rotation lab and the tour draw the same turns, and
    ``python -m equiv.serve`` computes the default one before the first visitor. Keyed by the model
    object itself (kept alive by the key), so another model never gets these outputs."""
    frames = np.frombuffer(positions, dtype=np.float64).reshape(shape)
    return evaluate(model, numbers, list(frames))


def turn(molecule: Molecule, panels: Sequence[Panel], axis: Sequence[float], start: np.ndarray, reflect: bool,
         n_frames: int, per_panel=None) -> TurnResult:
    """Every panel on ``n_frames`` copies of the molecule turned about ``axis`` (see
    :func:`turn_frames`). ``per_panel`` replaces :func:`turn_panel` (same arguments), e.g. by a cached
    version of it."""
    angles, g, positions = turn_frames(molecule, axis, start, reflect, n_frames)
    comparisons: dict[str, list[Comparison]] = {}
    notes: dict[str, str] = {}
    for p in panels:
        got = (per_panel or turn_panel)(molecule, p, axis, start, reflect, n_frames)
        if isinstance(got, str):
            notes[p.id] = got
        else:
            comparisons[p.id] = got
    return TurnResult(angles, g, positions, comparisons, notes)


def turn_scene(molecule: Molecule, panels: Sequence[Panel], result: TurnResult, settings: RotationSettings,
               start_frame: int = 0, seconds_per_turn: float = 6.0, height: int = 420) -> dict:
    """The viewer's arguments for playing ``result`` as an animation."""
    x = centred(molecule)
    infos = [
        PanelInfo(i.id, i.title, i.subtitle, i.scale, i.unit, i.note or result.notes.get(i.id, ""))
        for i in _panel_infos(panels, settings.vectors, settings.scale == "common")
    ]
    per_frame = [{pid: comps[k] for pid, comps in result.comparisons.items()} for k in range(len(result.positions))]
    return _scene(x, infos, result.positions, result.transforms, per_frame, settings,
                  transform_label=f"spinning: {settings.description()}", start_frame=start_frame,
                  seconds_per_turn=seconds_per_turn, height=height)


#: Column names of the agreement with the reference in :func:`table_rows`.
REFERENCE_COLUMNS = ("F MAE vs xTB / meV/Å", "cos vs xTB")


def table_rows(panels: Sequence[Panel], comparisons: dict[str, Comparison]) -> list[dict]:
    """One row per panel: energy of the turned molecule, its change, the relative errors, a verdict,
    and, when the reference panel is computed, each model's agreement with it
    (:func:`reference_agreement`: force MAE in meV/Å and mean cosine)."""
    agreement = reference_agreement(comparisons)
    rows = []
    for p in panels:
        c = comparisons.get(p.id)
        if c is None:
            row = {"panel": p.title, "model": p.subtitle, "E(g·x) / eV": None, "ΔE / meV": None,
                   "force error": None, "atom-vector error": None, "verdict": p.note or "not computed"}
        else:
            worst = max(c.force_error, 0.0 if math.isnan(c.vector_error) else c.vector_error)
            row = {
                "panel": p.title,
                "model": p.subtitle,
                "E(g·x) / eV": c.rotated.energy,
                "ΔE / meV": c.energy_change_mev,
                "force error": c.force_error,
                "atom-vector error": None if math.isnan(c.vector_error) else c.vector_error,
                "verdict": verdict(p.id, worst, is_identity(c.transform)),
            }
        if agreement:
            mae, cos = agreement.get(p.id, (None, None))
            row[REFERENCE_COLUMNS[0]], row[REFERENCE_COLUMNS[1]] = mae, cos
        rows.append(row)
    return rows
