"""The playground's built-in functions: the seminar's examples of what is (not) equivariant.

Each entry carries the verdict a person expects from the seminar (``expected``, ``irreps``,
``translation``) and one sentence of why; the tests check the measured verdict of every entry
against these hand-written expectations.

Example:
    >>> BUILTINS_BY_KEY["cross"].expression
    'cross(a, b)'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BuiltinFunction", "BUILTINS", "BUILTINS_BY_KEY"]


@dataclass(frozen=True)
class BuiltinFunction:
    key: str  # short name for links and the CLI (?f=cross)
    label: str  # as on the seminar's slide
    expression: str  # in the playground's language (equiv.playground.expression)
    expected: str  # invariant / equivariant / rotations only / neither
    irreps: str | None  # the output's irreps without multiplicities (Verdict.irrep_types)
    translation: str  # invariant / moves with r / neither
    why: str


BUILTINS: tuple[BuiltinFunction, ...] = (
    BuiltinFunction("lincomb", "c₁a + c₂b", "2*a - 0.5*b", "equivariant", "1o", "invariant",
                    "Rotation is linear: R(c₁a + c₂b) = c₁Ra + c₂Rb, so a linear combination of vectors is a vector."),
    BuiltinFunction("dot", "a·b", "dot(a, b)", "invariant", "0e", "invariant",
                    "(Ra)·(Rb) = aᵀRᵀRb = a·b: rotations and reflections keep scalar products."),
    BuiltinFunction("outer", "a bᵀ", "outer(a, b)", "equivariant", "0e+1e+2e", "invariant",
                    "R a (R b)ᵀ = R (a bᵀ) Rᵀ: a rank-2 tensor, 1 ⊗ 1 = 0 ⊕ 1 ⊕ 2 (trace, antisymmetric, symmetric traceless)."),
    BuiltinFunction("cross", "a × b", "cross(a, b)", "equivariant", "1e", "invariant",
                    "(Ra) × (Rb) = det(R) R (a × b): it turns like a vector but does not flip under inversion, a pseudovector."),
    BuiltinFunction("sigma_dot", "σ(a·b)", "sigmoid(dot(a, b))", "invariant", "0e", "invariant",
                    "Any function of a scalar is a scalar: σ of an invariant is invariant."),
    BuiltinFunction("gated", "σ(a·b)·a", "sigmoid(dot(a, b)) * a", "equivariant", "1o", "invariant",
                    "A scalar times a vector is a vector: the gate of GVP and NequIP."),
    BuiltinFunction("norm", "|a|", "norm(a)", "invariant", "0e", "invariant",
                    "|Ra| = |a|: lengths are kept by rotations and reflections."),
    BuiltinFunction("triple", "(a × b)·(r₁ − r₀)", "dot(cross(a, b), r[1] - r[0])", "equivariant", "0o", "invariant",
                    "A pseudovector dotted with a polar vector: unchanged by rotations, sign flip under reflections (a pseudoscalar)."),
    BuiltinFunction("mixing", "Σᵢ cᵢ rᵢ (mixing x, y, z)", "0.5*r[:, 0] - 1.2*r[:, 1] + 0.7*r[:, 2]", "neither", None, "neither",
                    "Weighting x, y and z differently picks a direction in space; a rotation mixes x, y, z, so the numbers change in no fixed way."),
    BuiltinFunction("sigma_r", "σ(r) elementwise", "sigmoid(r)", "neither", None, "neither",
                    "σ(r_x), σ(r_y), σ(r_z) acts on each coordinate alone; a rotation mixes them first, and σ(Rr) ≠ R σ(r)."),
    BuiltinFunction("shift", "a + constant vector", "a + [1, 0, 0]", "neither", None, "invariant",
                    "The constant does not turn with the input: R a + c ≠ R (a + c)."),
    BuiltinFunction("permute", "permutation of x, y, z", "[a[1], a[2], a[0]]", "neither", None, "invariant",
                    "Relabelling axes is a fixed rotation P; P R a ≠ R P a for most R, so the output does not follow D(R)."),
    BuiltinFunction("gram", "Gram matrix of centred r", "gram(r - mean(r))", "invariant", "0e", "invariant",
                    "Entries are scalar products (rᵢ − r̄)·(rⱼ − r̄): invariant under rotations, reflections and translations."),
    BuiltinFunction("bond", "r₁ − r₀", "r[1] - r[0]", "equivariant", "1o", "invariant",
                    "A difference of positions is a polar vector and does not see translations."),
    BuiltinFunction("centroid", "centroid of r", "mean(r)", "equivariant", "1o", "moves with r",
                    "The mean position turns with the molecule and moves with it: equivariant, not translation-invariant."),
    BuiltinFunction("mixed_parity", "a + a × b", "a + cross(a, b)", "rotations only", None, "invariant",
                    "A polar vector plus a pseudovector: both turn with rotations, but under inversion one flips and the other does not."),
)

BUILTINS_BY_KEY: dict[str, BuiltinFunction] = {f.key: f for f in BUILTINS}
