"""Is a function of vectors invariant, equivariant, or neither? Measured, not assumed.

The inputs are two polar vectors ``a``, ``b`` (``1o``) and positions ``r`` ``[n_atoms, 3]``. A group
element ``g = (Q, t)`` acts by ``a ↦ Q a``, ``b ↦ Q b``, ``r ↦ r Qᵀ + t`` (a translation moves
positions only: ``a`` and ``b`` are differences). The trials are random proper rotations, the
inversion ``−I``, a random reflection, and (separately) random translations.

How the output's irreps are found: each candidate representation is tested, with ``D`` from
:func:`equiv.o3.wigner_D`, under every rotation and reflection:

* scalars: ``f(Q·x) = f(x)`` (``0e`` per entry), or ``= det(Q) f(x)`` (pseudoscalars, ``0o``);
* vectors (last axis of length 3): ``f(Q·x) = D^{1o}(Q) f(x)`` (polar) or ``D^{1e}(Q) f(x)``
  (pseudovector, e.g. ``a × b``);
* 3×3 matrices: split into trace, antisymmetric and symmetric-traceless parts, each written in
  spherical components with the Clebsch–Gordan change of basis of ``1 ⊗ 1 = 0 ⊕ 1 ⊕ 2`` (the one
  :func:`equiv.o3.decompose_outer_product` uses), and each nonzero part tested against ``D^{Le}``
  and ``D^{Lo}`` (``a bᵀ`` gives ``0e ⊕ 1e ⊕ 2e``).

Translations are reported separately: translation-invariant, moves with the positions
(``f(r + t) = f(r) + t``, e.g. a centroid), or neither.

Example:
    >>> v = judge("cross(a, b)")
    >>> v.kind, v.irreps, v.translation
    ('equivariant', '1e', 'invariant')
    >>> judge("sigmoid(r)").kind
    'neither'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from equiv.o3 import clebsch_gordan, inversion, random_rotation, reflection, vector_to_l1, wigner_D
from equiv.playground.expression import Expression, ExpressionError, parse_expression

__all__ = ["SideBySide", "Trial", "TrialError", "Verdict", "judge", "side_by_side", "trials", "default_inputs", "rank2_components", "TOLERANCE"]

#: Relative tolerance (float64): errors are ~1e-15 for an equivariant function, O(1) otherwise.
TOLERANCE = 1e-9
KINDS = ("invariant", "equivariant", "rotations only", "neither")


@dataclass(frozen=True)
class Trial:
    """One transformation: ``Q`` ``[3, 3]`` (orthogonal) and a translation ``t`` ``[3]`` (Å)."""

    name: str
    Q: torch.Tensor
    t: torch.Tensor

    @property
    def proper(self) -> bool:
        return bool(torch.linalg.det(self.Q) > 0)


@dataclass(frozen=True)
class TrialError:
    """Relative errors ``max|f(g·x) − D(g) f(x)| / max(1, max|f(x)|)`` for one trial."""

    trial: str
    invariant: float  # D = identity
    equivariant: float | None  # D of the identified irreps (None when nothing fits)


@dataclass(frozen=True)
class Verdict:
    """What :func:`judge` found.

    Attributes:
        expression: the function as typed.
        kind: ``invariant`` (all 0e), ``equivariant`` (irreps found under rotations and reflections),
            ``rotations only`` (equivariant under rotations, not under reflections), or ``neither``.
        irreps: the output's irreps, e.g. ``"0e+1e+2e"`` (``None`` for ``neither``).
        output_shape: shape of ``f(x)``.
        translation: ``invariant``, ``moves with r`` or ``neither``.
        error: the largest relative error of the verdict (for ``neither``, the smallest error of any
            candidate: how far the function is from the nearest one).
        errors: per trial, the errors against invariance and against the identified irreps.
        translation_error: ``max|f(r + t) − f(r)|`` relative (or against ``f(r) + t``).
        reason: one sentence of why.
    """

    expression: str
    kind: str
    irreps: str | None
    output_shape: tuple[int, ...]
    translation: str
    error: float
    errors: tuple[TrialError, ...]
    translation_error: float
    reason: str
    uses: tuple[str, ...] = field(default=())

    @property
    def irrep_types(self) -> str | None:
        """The irreps without multiplicities: ``"0e"`` for a 5×5 matrix of scalars (``"25x0e"``)."""
        if self.irreps is None:
            return None
        return "+".join(dict.fromkeys(part.split("x")[-1] for part in self.irreps.split("+")))

    @property
    def equivariant(self) -> bool:
        return self.kind in ("invariant", "equivariant")

    def to_dict(self) -> dict:
        return {
            "expression": self.expression,
            "verdict": self.kind,
            "irreps": self.irreps,
            "irrep_types": self.irrep_types,
            "output_shape": list(self.output_shape),
            "translation": self.translation,
            "error": self.error,
            "translation_error": self.translation_error,
            "errors": [{"trial": e.trial, "invariant": e.invariant, "equivariant": e.equivariant} for e in self.errors],
            "reason": self.reason,
            "uses": list(self.uses),
        }


def default_inputs(seed: int = 0, n_atoms: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded random ``a``, ``b`` ``[3]`` and positions ``r`` ``[n_atoms, 3]`` (float64)."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(2, 3, dtype=torch.float64, generator=g)
    r = 1.5 * torch.randn(n_atoms, 3, dtype=torch.float64, generator=g)
    return a, b, r


def trials(seed: int = 0, n_rotations: int = 3) -> list[Trial]:
    """Random proper rotations, the inversion and a random reflection (no translation)."""
    g = torch.Generator().manual_seed(seed + 1)
    zero = torch.zeros(3, dtype=torch.float64)
    out = [Trial(f"rotation {i + 1}", random_rotation(dtype=torch.float64, generator=g), zero) for i in range(n_rotations)]
    out.append(Trial("inversion", inversion(), zero))
    out.append(Trial("reflection", reflection(torch.randn(3, dtype=torch.float64, generator=g)), zero))
    return out


def rank2_components(M: torch.Tensor) -> list[torch.Tensor]:
    """Spherical components of the L = 0, 1, 2 parts of 3×3 matrices ``[..., 3, 3]``: ``[..., 2L+1]`` each.

    The change of basis is ``√(2L+1) C(1, 1, L)`` in e3nn's l = 1 order, the same as in
    :func:`equiv.o3.decompose_outer_product` (for ``M = a bᵀ`` the results agree: a test pins it).
    """
    M_l = vector_to_l1(vector_to_l1(M).transpose(-1, -2)).transpose(-1, -2)  # rows and columns in l = 1 order
    return [math.sqrt(2 * L + 1) * torch.einsum("ijk,...ij->...k", clebsch_gordan(1, 1, L, M.dtype), M_l)
            for L in range(3)]


def _rel(x: torch.Tensor, y: torch.Tensor, scale: float) -> float:
    if x.shape != y.shape:
        return math.inf
    err = float((x - y).abs().max()) if x.numel() else 0.0
    return err / max(1.0, scale) if math.isfinite(err) else math.inf


def _apply(D: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``D`` ``[d, d]`` on the last axis of ``y`` ``[..., d]``."""
    return y @ D.T


Candidate = Callable[[Trial, torch.Tensor], torch.Tensor]  # (trial, f(x)) -> D(g) f(x)


def _candidates(shape: tuple[int, ...]) -> dict[str, Candidate]:
    """Candidate output representations for an output of this shape: irreps string → D(g) f(x)."""
    n = math.prod(shape)
    mul = "" if n == 1 else f"{n}x"
    cands: dict[str, Candidate] = {
        f"{mul}0e": lambda tr, y: y,
        f"{mul}0o": lambda tr, y: torch.linalg.det(tr.Q) * y,
    }
    if shape and shape[-1] == 3:
        m = math.prod(shape[:-1])
        vm = "" if m == 1 else f"{m}x"
        for p in ("o", "e"):
            cands[f"{vm}1{p}"] = lambda tr, y, p=p: _apply(wigner_D(f"1{p}", tr.Q), y)
    return cands


def _rank2_irreps(y: torch.Tensor, y_of: Callable[[Trial], torch.Tensor], tr_list: list[Trial]) -> tuple[str | None, float, bool]:
    """Irreps of 3×3 matrix outputs ``[..., 3, 3]`` part by part; (irreps, max error, proper-only flag)."""
    parts = rank2_components(y)
    scale = float(y.abs().max()) if y.numel() else 0.0
    lead = math.prod(y.shape[:-2])
    mul = "" if lead == 1 else f"{lead}x"
    found: list[str] = []
    worst = 0.0
    rotations_only = False
    transformed = {tr.name: rank2_components(y_of(tr)) for tr in tr_list}
    for L, comp in enumerate(parts):
        if float(comp.abs().max()) <= TOLERANCE * max(1.0, scale):
            continue  # this part is zero for every input of this form (e.g. the trace of a × b's matrix)
        best: tuple[float, str] | None = None
        for p in ("e", "o"):
            errs = [_rel(transformed[tr.name][L], _apply(wigner_D(f"{L}{p}", tr.Q), comp), scale) for tr in tr_list]
            proper_errs = [e for e, tr in zip(errs, tr_list) if tr.proper]
            if max(errs) <= TOLERANCE and (best is None or max(errs) < best[0]):
                best = (max(errs), f"{L}{p}")
            elif max(proper_errs) <= TOLERANCE:
                rotations_only = True
                worst = max(worst, max(proper_errs))
        if best is None:
            return None, math.inf, rotations_only
        found.append(mul + best[1])
        worst = max(worst, best[0])
    return ("+".join(found) if found else f"{mul}0e"), worst, False


def _translation(expr: Expression, a: torch.Tensor, b: torch.Tensor, r: torch.Tensor, y: torch.Tensor, seed: int) -> tuple[str, float]:
    if "r" not in expr.uses:
        return "invariant", 0.0
    g = torch.Generator().manual_seed(seed + 2)
    scale = float(y.abs().max()) if y.numel() else 0.0
    inv, moves = 0.0, 0.0
    for _ in range(2):
        t = 3 * torch.randn(3, dtype=torch.float64, generator=g)
        yt = expr(a, b, r + t)
        inv = max(inv, _rel(yt, y, scale))
        moves = max(moves, _rel(yt, y + t, scale) if y.shape and y.shape[-1] == 3 else math.inf)
    if inv <= TOLERANCE:
        return "invariant", inv
    if moves <= TOLERANCE:
        return "moves with r", moves
    return "neither", min(inv, moves)


def _reason(kind: str, irreps: str | None, shape: tuple[int, ...]) -> str:
    if kind == "invariant":
        return "Rotating or reflecting the input leaves every output number unchanged: the output is made of scalars (0e)."
    if kind == "equivariant":
        if irreps and "1e" in irreps and "2" not in irreps and "0" not in irreps:
            return ("The output turns with the input like a vector but does not flip under inversion: "
                    "a pseudovector (1e), as a cross product of two polar vectors is.")
        if irreps and irreps.endswith("0o"):
            return "The output is unchanged by rotations and flips sign under reflections: a pseudoscalar (0o)."
        return f"Each part of the output transforms with its own Wigner-D matrix ({irreps}) under rotations and reflections."
    if kind == "rotations only":
        return ("The output turns with rotations, but under reflections it matches neither parity: it mixes even and "
                "odd parts (e.g. a polar vector plus a pseudovector).")
    return ("No representation fits: after a rotation the output is not D(R) applied to the old output, because the "
            "function treats x, y, z (or the entries) differently from how a rotation mixes them.")


def judge(function: str | Expression, inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
          seed: int = 0) -> Verdict:
    """Test ``function`` under rotations, reflections and translations and say what it is.

    ``inputs`` are ``(a [3], b [3], r [n_atoms, 3])`` (float64; default :func:`default_inputs`).
    Raises :class:`~equiv.playground.expression.ExpressionError` for a function that cannot be parsed
    or evaluated.
    """
    expr = parse_expression(function) if isinstance(function, str) else function
    a, b, r = inputs if inputs is not None else default_inputs(seed)
    a, b, r = (torch.as_tensor(x, dtype=torch.float64) for x in (a, b, r))
    y = expr(a, b, r)
    if not bool(torch.isfinite(y).all()):
        raise ExpressionError("the function gives NaN or infinity on these inputs (a division by zero?)")
    shape = tuple(y.shape)
    tr_list = trials(seed)

    cache: dict[str, torch.Tensor] = {}

    def y_of(tr: Trial) -> torch.Tensor:
        if tr.name not in cache:
            cache[tr.name] = expr(a @ tr.Q.T, b @ tr.Q.T, r @ tr.Q.T + tr.t)
        return cache[tr.name]

    scale = float(y.abs().max()) if y.numel() else 0.0
    inv_errs = [_rel(y_of(tr), y, scale) for tr in tr_list]

    results: list[tuple[str, list[float]]] = []
    for name, D_of in _candidates(shape).items():
        results.append((name, [_rel(y_of(tr), D_of(tr, y), scale) for tr in tr_list]))
    rank2: tuple[str | None, float, bool] = (None, math.inf, False)
    if len(shape) >= 2 and shape[-2:] == (3, 3):
        rank2 = _rank2_irreps(y, y_of, tr_list)

    fits = [(max(errs), name, errs) for name, errs in results if max(errs) <= TOLERANCE]
    kind, irreps, err_list = "neither", None, None
    if fits:
        _, irreps, err_list = min(fits)
        kind = "invariant" if irreps.endswith("0e") else "equivariant"
    elif rank2[0] is not None:
        irreps = rank2[0]
        kind = "invariant" if all(p.endswith("0e") for p in irreps.split("+")) else "equivariant"
        err_list = [rank2[1]] * len(tr_list)
    else:
        proper_fit = [name for name, errs in results
                      if max(e for e, tr in zip(errs, tr_list) if tr.proper) <= TOLERANCE]
        if proper_fit or rank2[2]:
            kind = "rotations only"
            irreps = None
    if kind == "neither" or kind == "rotations only":
        best = min(max(errs) for _, errs in results)
        error = min(best, rank2[1])
    else:
        error = max(err_list) if err_list else 0.0
    errors = tuple(TrialError(tr.name, inv_errs[i], None if err_list is None else err_list[i]) for i, tr in enumerate(tr_list))
    translation, t_err = _translation(expr, a, b, r, y, seed)
    return Verdict(expr.text, kind, irreps, shape, translation, float(error), errors, float(t_err),
                   _reason(kind, irreps, shape), tuple(sorted(expr.uses)))


@dataclass(frozen=True)
class SideBySide:
    """``f(g·x)`` next to ``D(g) f(x)`` for one trial, flattened ``[n_values]`` with a label each.

    Matrix outputs are shown in spherical components (L = 0, 1, 2 parts); ``representation`` names the
    ``D`` used: the verdict's irreps, or for ``neither`` the natural guess for the output's shape.
    """

    trial: str
    labels: tuple[str, ...]
    transformed: torch.Tensor  # f(g·x) [n_values]
    predicted: torch.Tensor  # D(g) f(x) [n_values]
    original: torch.Tensor  # f(x) [n_values]
    representation: str

    @property
    def error(self) -> float:
        return _rel(self.transformed, self.predicted, float(self.original.abs().max()) if self.original.numel() else 0.0)


def _parity(irreps: str | None, l: int, default: str) -> str:
    for part in (irreps or "").split("+"):
        if part.endswith(f"{l}e") or part.endswith(f"{l}o"):
            return part[-1]
    return default


def side_by_side(function: str | Expression, trial: Trial, irreps: str | None,
                 inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> SideBySide:
    """``f(g·x)`` and ``D(g) f(x)`` for ``trial``, with ``D`` from ``irreps`` (see :class:`SideBySide`)."""
    expr = parse_expression(function) if isinstance(function, str) else function
    a, b, r = inputs if inputs is not None else default_inputs()
    y = expr(a, b, r)
    y_g = expr(a @ trial.Q.T, b @ trial.Q.T, r @ trial.Q.T + trial.t)
    shape = tuple(y.shape)
    if len(shape) >= 2 and shape[-2:] == (3, 3):
        labels, before, after, pred = [], [], [], []
        lead = math.prod(shape[:-2])
        for L, (c, c_g) in enumerate(zip(rank2_components(y), rank2_components(y_g))):
            p = _parity(irreps, L, "e")
            c, c_g = c.reshape(lead, 2 * L + 1), c_g.reshape(lead, 2 * L + 1)
            D = wigner_D(f"{L}{p}", trial.Q)
            for i in range(lead):
                labels += [f"{'' if lead == 1 else f'[{i}] '}L={L}{p} m={m}" for m in range(-L, L + 1)]
                before.append(c[i]), after.append(c_g[i]), pred.append(D @ c[i])
        return SideBySide(trial.name, tuple(labels), torch.cat(after), torch.cat(pred), torch.cat(before),
                          "+".join(f"{L}{_parity(irreps, L, 'e')}" for L in range(3)))
    flat_labels = [str(list(idx)) if idx else "value" for idx in _indices(shape)]
    if shape and shape[-1] == 3 and not (irreps or "").endswith("0e") and not (irreps or "").endswith("0o"):
        p = _parity(irreps, 1, "o")
        pred = _apply(wigner_D(f"1{p}", trial.Q), y)
        rep = f"1{p}"
    elif (irreps or "").endswith("0o"):
        pred, rep = torch.linalg.det(trial.Q) * y, "0o"
    else:
        pred, rep = y, "0e"
    return SideBySide(trial.name, tuple(flat_labels), y_g.reshape(-1), pred.reshape(-1), y.reshape(-1), rep)


def _indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    if not shape:
        return [()]
    return [tuple(int(i) for i in idx) for idx in torch.cartesian_prod(*[torch.arange(n) for n in shape]).reshape(-1, len(shape)).tolist()]
