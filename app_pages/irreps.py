"""Irreps lab: the outer product taken apart, rotations and reflections of its parts, general
Clebsch–Gordan decompositions, spherical harmonics, Wigner-D matrices and NequIP's messages.

Only layout: the numbers come from ``equiv.o3`` through ``equiv.views``; widgets and deep links
are in ``app_pages/irreps_controls.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from equiv.errors import EquivError
from equiv.formatting import format_significant
from equiv.o3 import (
    TensorProductDecomposition,
    block_diagonal_D,
    clebsch_gordan,
    component_labels,
    decompose_outer_product,
    sphere_grid,
    spherical_function,
    wigner_D,
)
from equiv.views.checks import FLOAT64_TOLERANCE, Check, checks_table
from equiv.views.text import escape_markdown
from equiv.views.figure_export import EXPORT_FORMATS, plot_config
from equiv.views.irreps_figures import (
    cg_heatmaps,
    coefficient_bars,
    harmonics_surfaces,
    matrix_heatmap,
    short_labels,
    surfaces_row,
)
from equiv.views.irreps_settings import L_MAX, MUL_MAX, NEQUIP_L_MAX
from equiv.views.irreps_tables import (
    cg_checks,
    cg_coefficients_table,
    harmonics_mixing,
    nequip_irreps,
    nequip_path_grid,
    nequip_paths,
    outer_product_checks,
    part_components_table,
    rotation_checks,
    selection_rule_table,
    transformed_components_table,
    vectors_table,
    wigner_checks,
    wrong_inverse_error,
)
from app_pages import irreps_controls as ctl

SECTIONS = ["Outer product", "Rotate & reflect", "Clebsch–Gordan", "Spherical harmonics", "Wigner-D", "NequIP messages"]
XYZ = ["x", "y", "z"]
PART_LATEX = {
    "trace": r"T = \tfrac{a\cdot b}{3}\, I,\qquad a\cdot b = \textstyle\sum_i a_i b_i",
    "antisymmetric": r"A = \tfrac{1}{2}\left(a b^{\mathsf T} - b a^{\mathsf T}\right)",
    "symmetric_traceless": r"S = \tfrac{1}{2}\left(a b^{\mathsf T} + b a^{\mathsf T}\right) - \tfrac{a\cdot b}{3}\, I",
}
PART_HEADINGS = {
    "trace": "Trace · l = 0 · 1 number",
    "antisymmetric": "Antisymmetric · l = 1 · 3 numbers",
    "symmetric_traceless": "Symmetric traceless · l = 2 · 5 numbers",
}


# -- small display helpers -------------------------------------------------------------------------


def tex_number(x: float) -> str:
    return format_significant(x).replace("−", "-")


def tex_vector(v) -> str:
    return r"\left(" + ",\\ ".join(tex_number(float(x)) for x in v) + r"\right)"


def table(df: pd.DataFrame, key: str, formats: dict[str, str] | None = None, **kwargs) -> None:
    """A dataframe inside a keyed container (tests find it by the key)."""
    config = {c: st.column_config.NumberColumn(c, format=f) for c, f in (formats or {}).items()}
    with st.container(key=key):
        st.dataframe(df, hide_index=kwargs.pop("hide_index", True), column_config=config, **kwargs)


def show_checks(checks: list[Check], key: str) -> None:
    """The checks as a table, with a one-line verdict above it."""
    failed = [c for c in checks if not c.passed]
    worst = max((c.error for c in checks), default=0.0)
    if failed:
        st.error(f"{len(failed)} of {len(checks)} checks fail: " + "; ".join(c.name for c in failed))
    else:
        st.success(f"All {len(checks)} checks pass (largest error {worst:.1e}; float64 tolerance {FLOAT64_TOLERANCE:.0e}, scaled by the size of the numbers)")
    table(checks_table(checks), key, {"max abs error": "%.2e", "tolerance": "%.0e"})


def chart(fig, key: str) -> None:
    """A plotly figure whose modebar camera downloads it as PNG or SVG (the sidebar's choice), offline."""
    fmt = st.session_state.get("irreps_export", "png")
    st.plotly_chart(fig, width="stretch", key=key, config=plot_config(fmt, f"equiv-irreps-{key}"))


@st.cache_data(max_entries=64, show_spinner=False)
def cached_cg_figure(l1: int, l2: int, L: int):
    return cg_heatmaps(clebsch_gordan(l1, l2, L), l1, l2, L)


@st.cache_data(max_entries=8, show_spinner=False)
def cached_harmonics_figure(l: int):
    return harmonics_surfaces(l)


@st.cache_data(max_entries=64, show_spinner=False)
def cached_paths(lmax: int, mul: int, layer: str):
    return nequip_paths(lmax, mul, layer)


def rotation_summary(R: torch.Tensor, name: str = "R") -> str:
    """LaTeX: ``R = (−I) R_z(α) R_y(β) R_z(γ), det R = ±1`` for the current settings."""
    s = ctl.settings()
    inv = r"\,(-I)\," if s.inversion else ""
    return (
        rf"{name} = {inv} R_z({s.alpha}^\circ)\, R_y({s.beta}^\circ)\, R_z({s.gamma}^\circ),\qquad "
        rf"\det {name} = {int(round(float(torch.linalg.det(R))))}"
    )


# -- sections --------------------------------------------------------------------------------------


def outer_product_section() -> None:
    st.markdown(
        "The outer product of two vectors is a 3 × 3 matrix, 9 numbers. Under rotations it splits into "
        "three pieces that never mix: a scalar (l = 0), a vector (l = 1, the cross product) and a "
        "symmetric traceless matrix (l = 2). In irreps: **1o ⊗ 1o = 0e ⊕ 1e ⊕ 2e**, and 9 = 1 + 3 + 5."
    )
    c1, c2, c3 = st.columns([1, 1, 1.1], vertical_alignment="bottom")
    with c1:
        ctl.vector_input("a", "Vector a (x, y, z)")
    with c2:
        ctl.vector_input("b", "Vector b (x, y, z)")
    with c3:
        ctl.vector_buttons("outer")
    s = ctl.settings()
    dec = decompose_outer_product(s.a, s.b)
    a, b = dec.a, dec.b
    dot = float(a @ b)
    cross = torch.linalg.cross(a, b)
    zmax = float(dec.outer.abs().max())

    left, right = st.columns([1, 2])
    with left:
        chart(matrix_heatmap(dec.outer, XYZ, XYZ, title="a bᵀ: entry (i, j) = aᵢ bⱼ", zmax=zmax), "irreps_outer_heatmap")
    with right:
        st.latex(r"a\,b^{\mathsf T} \;=\; T \;+\; A \;+\; S")
        st.latex(
            rf"a = {tex_vector(a)},\quad b = {tex_vector(b)},\quad a\cdot b = {tex_number(dot)},\quad "
            rf"a\times b = {tex_vector(cross)}"
        )
        if float(cross.abs().max()) < 1e-12 * max(1.0, zmax):
            st.info("a × b = 0 (a ∥ b or a vector is zero): the antisymmetric part vanishes.")
        if zmax == 0:
            st.info("a bᵀ = 0: every part is zero.")
        st.caption(
            "Spherical components use e3nn 0.6's real basis and component normalisation (the numbers "
            "e3nn's FullTensorProduct('1o', '1o') gives): l = 1 in the order (x, y, z); l = 2 in e3nn's "
            "order m = −2 … 2, each proportional to the Cartesian form shown."
        )
    cols = st.columns(3)
    for col, part in zip(cols, dec.parts):
        with col:
            st.markdown(f"**{PART_HEADINGS[part.name]}** · irrep `{part.irrep}`")
            st.latex(PART_LATEX[part.name])
            chart(matrix_heatmap(part.matrix, XYZ, XYZ, zmax=zmax, height=240), f"irreps_part_heatmap_{part.name}")
            if part.name == "antisymmetric":
                A = part.matrix
                st.latex(
                    rf"(A_{{yz}}, A_{{zx}}, A_{{xy}}) = \tfrac{{1}}{{2}}\, a\times b = {tex_vector([A[1, 2], A[2, 0], A[0, 1]])}"
                )
            elif part.name == "trace":
                st.latex(rf"c_0 = \tfrac{{a\cdot b}}{{\sqrt 3}} = {tex_number(float(part.components[0]))}")
            else:
                st.latex(r"\operatorname{tr} S = 0,\quad S = S^{\mathsf T}")
            if part.name == "antisymmetric":
                st.caption("spherical components = (a × b)/√2, a pseudovector (1e)")
            table(part_components_table(part), f"irreps_components_{part.name}", {"value": "%.6f"})
    checks = outer_product_checks(dec)
    total = checks[0]  # T + A + S = a bᵀ
    st.markdown(
        f"**T + A + S = a bᵀ**: max abs error {total.error:.1e} (tolerance {total.tolerance:.0e}) "
        + ("— pass" if total.passed else "— **FAIL**")
    )
    st.markdown("**Checks**")
    show_checks(checks, "irreps_outer_checks")
    with st.expander("Common mistakes (the seminar slides had these)"):
        st.markdown(
            r"""
* The trace part uses the **dot product** $a\cdot b = \sum_i a_i b_i$, not the sum of all entries
  $\sum_{ij} a_i b_j$.
* The symmetric part must have its trace **removed**: $\tfrac12(ab^{\mathsf T} + ba^{\mathsf T}) - \tfrac{a\cdot b}{3} I$;
  $ab^{\mathsf T} + ba^{\mathsf T}$ alone is neither traceless nor half the right size.
* The antisymmetric part's entries are $(A_{yz}, A_{zx}, A_{xy}) = \tfrac12\, a\times b$; its spherical
  components are $(a\times b)/\sqrt2$ (orthonormal basis). It is a **pseudovector** (1e): it does not
  flip under inversion.
* The inverse representation is $D(R^{-1}) = D(R)^{\mathsf T}$, not $D(-R)$ ($-R$ is $R$ followed by the inversion).
"""
        )


def rotate_section() -> None:
    st.markdown(
        "Rotate (or reflect) both vectors and decompose again: each part transforms **on its own**, by "
        "its own Wigner-D matrix. Nothing of the l = 2 part leaks into l = 1 or l = 0."
    )
    ctl.rotation_controls("rotate")
    s = ctl.settings()
    R = s.rotation()
    a, b = torch.tensor(s.a, dtype=torch.float64), torch.tensor(s.b, dtype=torch.float64)
    st.latex(rotation_summary(R))
    c1, c2, c3 = st.columns([1, 1.3, 2.2])
    with c1:
        chart(matrix_heatmap(R, XYZ, XYZ, title="R", zmax=1.0, height=260), "irreps_R_heatmap")
    with c2:
        st.markdown("**The vectors** (x, y, z)")
        table(vectors_table(a, b, R), "irreps_vectors", {c: "%.4f" for c in XYZ}, hide_index=False)
    with c3:
        labels = ["0e"] + [f"1e {x}" for x in component_labels(1)] + [f"2e {m}" for m in short_labels(2)]
        chart(
            matrix_heatmap(block_diagonal_D("0e+1e+2e", R), labels, labels, title="D(R) = D⁰ ⊕ D¹ ⊕ D²  (0e + 1e + 2e)",
                           zmax=1.0, blocks=[1, 3, 5], height=420),
            "irreps_block_D",
        )
    if s.inversion:
        st.info(
            "Inversion is on (det R = −1). The polar vectors flip: R a = −R₀ a (they are 1o). The antisymmetric "
            "part does not: (−a) × (−b) = a × b, so it is a pseudovector (1e), and D¹ of 1e has no sign flip. "
            "The trace (0e) and the symmetric traceless part (2e) are even too."
        )
    rotated = decompose_outer_product(R @ a, R @ b)
    zmax = float(rotated.outer.abs().max())
    st.markdown("**The parts of (R a)(R b)ᵀ**: each is R part(a, b) Rᵀ, a part of the same kind")
    for col, part in zip(st.columns(3), rotated.parts):
        with col:
            chart(matrix_heatmap(part.matrix, XYZ, XYZ, title=f"{PART_HEADINGS[part.name].split(' · ')[0]} ({part.irrep})",
                                 zmax=zmax, height=250), f"irreps_rotated_part_{part.name}")
    left, right = st.columns([2.2, 1])
    with left:
        st.markdown("**Components before and after** (D(R) part(a, b) is the prediction)")
        df = transformed_components_table(a, b, R)
        table(df, "irreps_transformed", {c: "%.6f" for c in df.columns[3:]})
    with right:
        chart(
            matrix_heatmap(wigner_D("1o", R), XYZ, XYZ, title="D¹ of a polar vector (1o) = R", zmax=1.0, height=260),
            "irreps_D1o_heatmap",
        )
        st.caption("A vector such as a, b or a force is 1o: D^1o(R) = R (with e3nn 0.6's x, y, z order). "
                   "The cross product is 1e: D^1e(R) = det(R) R.")
    st.markdown("**Checks**")
    show_checks(rotation_checks(a, b, R), "irreps_rotation_checks")


def cg_section() -> None:
    st.markdown(
        "Any two irreps multiply into a sum of irreps. The Clebsch–Gordan coefficients C are the change "
        "of basis: (x₁ ⊗ x₂)_L,M = √(2L+1) Σ C[m1, m2, M] x₁[m1] x₂[m2] (e3nn's wigner_3j and normalisation)."
    )
    c = st.columns(4)
    with c[0]:
        ctl.order_choice("l1", "l1")
    with c[1]:
        ctl.parity_choice("parity 1", "p1")
    with c[2]:
        ctl.order_choice("l2", "l2")
    with c[3]:
        ctl.parity_choice("parity 2", "p2")
    s = ctl.settings()
    dec = TensorProductDecomposition.of(s.ir1, s.ir2)
    n_in, n_out = dec.dimension_check()
    outs = [str(ir) for _, ir in dec.irreps_out]
    parity = "e" if dec.irreps_out[0].ir.p == 1 else "o"
    st.latex(rf"\mathrm{{{s.ir1}}} \otimes \mathrm{{{s.ir2}}} \;=\; " + r" \oplus ".join(rf"\mathrm{{{o}}}" for o in outs))
    dims = " + ".join(str(ir.dim) for _, ir in dec.irreps_out)
    st.latex(rf"(2l_1+1)(2l_2+1) = {dec.ir1.dim}\times{dec.ir2.dim} = {n_in} \;=\; \textstyle\sum_L (2L+1) = {dims} = {n_out}")
    left, right = st.columns([1, 1.2])
    with left:
        st.markdown(rf"**Selection rule** $|l_1 - l_2| \le L \le l_1 + l_2$, output parity $p_1 p_2$ = **{parity}**")
        table(selection_rule_table(s.ir1, s.ir2), "irreps_selection_rule")
    with right:
        m1, m2, m3 = st.columns(3)
        m1.metric("input dimension", n_in)
        m2.metric("output irreps", len(outs))
        m3.metric("output parity", {"e": "even", "o": "odd"}[parity])
        st.caption("Parity multiplies: e ⊗ e = e, e ⊗ o = o, o ⊗ o = e. The order L follows the triangle rule; "
                   "the parity does not restrict L in a full tensor product.")
    ctl.choice("Output order L to show", "L", list(s.allowed_L()), format_func=lambda L: f"L = {L}")
    s = ctl.settings()
    st.markdown(f"**Clebsch–Gordan coefficients C[m1, m2, M] for {s.l1} ⊗ {s.l2} → {s.L}**: one heatmap per M "
                "(rows m1, columns m2; e3nn's component order, x y z for l = 1)")
    chart(cached_cg_figure(s.l1, s.l2, s.L), "irreps_cg_heatmaps")
    with st.expander("Nonzero coefficients"):
        table(cg_coefficients_table(s.l1, s.l2, s.L), "irreps_cg_table", {"C": "%.8f"})
    st.markdown(f"**Checks** (random inputs x₁, x₂; the rotation of the *Rotate & reflect* tab: α, β, γ = "
                f"{s.alpha}°, {s.beta}°, {s.gamma}°{', with inversion' if s.inversion else ''})")
    show_checks(cg_checks(s.ir1, s.ir2, s.rotation()), "irreps_cg_checks")


def harmonics_section() -> None:
    st.markdown(
        "Real spherical harmonics Y_l,m (e3nn's, integral normalisation): the radius is |Y(r̂)|, the colour its "
        "sign (red +, blue −). A rotation turns the 2l + 1 functions of one order into combinations of each "
        "other, with the coefficients of D^l(R), and never into functions of another order."
    )
    c1, c2 = st.columns([1, 2])
    with c1:
        ctl.order_choice("Order l", "l")
    s = ctl.settings()
    with c2:
        ctl.choice("Component m to rotate", "m", range(-s.l, s.l + 1),
                   format_func=lambda m: component_labels(s.l)[m + s.l] if s.l == 1 else f"m = {m}")
    s = ctl.settings()
    st.markdown(f"**The {2 * s.l + 1} harmonics of order l = {s.l}** (drag to turn, scroll to zoom)")
    chart(cached_harmonics_figure(s.l), "irreps_sh_surfaces")
    ctl.rotation_controls("harmonics")
    s = ctl.settings()
    R = s.rotation()
    st.latex(rotation_summary(R) + rf",\qquad Y_{{{s.l},m}}(R^{{-1}}\hat r) = \sum_{{m'}} D^{{{s.l}}}_{{m'm}}(R)\, Y_{{{s.l},m'}}(\hat r)")
    grid = sphere_grid(31, 61)  # [31, 61, 3]
    D = wigner_D(s.l, R)  # [2l+1, 2l+1]
    h = torch.zeros(2 * s.l + 1, dtype=torch.float64)
    h[s.m + s.l] = 1.0  # f = Y_l,m
    f = spherical_function(s.l, h, grid).numpy()  # [31, 61]
    f_rot = spherical_function(s.l, D @ h, grid).numpy()  # f(R⁻¹ r̂): coefficients D h
    label = component_labels(s.l)[s.m + s.l]
    left, right = st.columns([1.3, 1])
    with left:
        chart(
            surfaces_row([f, f_rot], [f"f = Y {s.l},{label}", "f' = f(R⁻¹ r̂)"], grid.numpy(), [np.eye(3), R.numpy()], height=360,
                         view_aspect=2.2),
            "irreps_sh_rotated",
        )
    with right:
        labs = short_labels(s.l)
        chart(matrix_heatmap(D, labs, labs, title=f"D^{s.l}(R): column m = {s.m} gives f'", zmax=1.0,
                             annotate=s.l <= 3, height=340), "irreps_sh_D")
    mixing, checks = harmonics_mixing(s.l, s.m, R)
    chart(
        coefficient_bars(mixing["l'"].tolist(), [m for l in range(L_MAX + 1) for m in short_labels(l)],
                         mixing["fitted coefficient"].tolist(),
                         f"f' fitted with every Y_l'm' up to l' = {L_MAX}: only order {s.l} is used"),
        "irreps_sh_bars",
    )
    with st.expander("Fitted coefficients and the block-diagonal D = D⁰ ⊕ D¹ ⊕ D² ⊕ D³ ⊕ D⁴"):
        table(mixing, "irreps_sh_mixing", {"fitted coefficient": "%.3e", mixing.columns[3]: "%.6f"})
        labels = [f"{l}:{m}" for l in range(L_MAX + 1) for m in short_labels(l)]
        chart(
            matrix_heatmap(block_diagonal_D("0e+1o+2e+3o+4e", R), labels, labels, zmax=1.0, annotate=False,
                           blocks=[1, 3, 5, 7, 9], height=560, title="D(R) on Y₀ … Y₄: zero outside the blocks"),
            "irreps_sh_block_D",
        )
    st.markdown("**Checks**")
    show_checks(checks, "irreps_sh_checks")


def wigner_section() -> None:
    st.markdown(
        "D^l(R) is the (2l+1) × (2l+1) orthogonal matrix that rotates features of order l: "
        "Y_l(R r̂) = D^l(R) Y_l(r̂). It is a representation: D(R₁R₂) = D(R₁) D(R₂), and its inverse is its transpose."
    )
    c1, c2 = st.columns([1, 1])
    with c1:
        ctl.order_choice("Order l", "l")
    with c2:
        ctl.parity_choice("Parity", "p")
    ctl.rotation_controls("wigner")
    s = ctl.settings()
    R1, R2 = s.rotation(), s.rotation2()
    ir = f"{s.l}{s.p}"
    labs = short_labels(s.l)
    st.latex(rotation_summary(R1, "R_1"))
    annotate = s.l <= 3
    c1, c2, c3 = st.columns(3)
    with c1:
        chart(matrix_heatmap(wigner_D(ir, R1), labs, labs, title=f"D^{ir}(R₁)", zmax=1.0, annotate=annotate), "irreps_D_R1")
    with c2:
        chart(matrix_heatmap(wigner_D(ir, R1.T), labs, labs, title=f"D^{ir}(R₁⁻¹) = D^{ir}(R₁)ᵀ", zmax=1.0,
                             annotate=annotate), "irreps_D_R1_inverse")
    with c3:
        chart(matrix_heatmap(wigner_D(ir, R1 @ R2), labs, labs, title=f"D^{ir}(R₁R₂) = D(R₁) D(R₂)", zmax=1.0,
                             annotate=annotate), "irreps_D_R1R2")
    c1, c2 = st.columns([3, 1], vertical_alignment="center")
    c1.markdown(f"R₂ = R_z({s.rot2[0]}°) R_y({s.rot2[1]}°) R_z({s.rot2[2]}°) (for the product check)")
    with c2:
        ctl.new_second_rotation_button()
    if s.inversion:
        st.info(f"R₁ is improper (det = −1): D^{ir}(R₁) = {'+' if s.p == 'e' else '−'}D^{s.l}(−R₁), the parity of {ir}.")
    st.markdown("**Checks**")
    show_checks(wigner_checks(ir, R1, R2), "irreps_wigner_checks")
    wrong = wrong_inverse_error(ir, R1)
    with st.expander("Common mistake: D(−R) is not the inverse"):
        st.markdown(
            f"The seminar slides wrote the inverse representation as D(−R). But −R is R followed by the "
            f"inversion, not R⁻¹. For this rotation max |D^{ir}(−R₁) − D^{ir}(R₁)ᵀ| = **{wrong:.3g}**"
            + (" (they agree here only by accident of this R)." if wrong < 1e-10 else ".")
        )


def nequip_section() -> None:
    st.markdown(
        "NequIP's message from atom j to atom i is a tensor product of j's features with the spherical "
        "harmonics of the edge direction, each path weighted per channel by a learned function of the distance "
        "(\"uvu\" paths). The paths listed here are the ones the model builds (`equiv.o3.uvu_paths`)."
    )
    st.latex(
        r"m_{i,c}^{(l_{\mathrm{out}})} = \frac{1}{\sqrt{\bar n}} \sum_{j \in \mathcal N(i)} \;"
        r"\sum_{\text{paths } l_{\mathrm{in}} \otimes l_{\mathrm{edge}} \to l_{\mathrm{out}}}"
        r" R^{\text{path}}_{c}(\lVert r_{ij}\rVert)\; \Bigl( h_{j,c}^{(l_{\mathrm{in}})} \otimes Y^{(l_{\mathrm{edge}})}(\hat r_{ij}) \Bigr)^{(l_{\mathrm{out}})}"
    )
    c1, c2, c3 = st.columns([1, 1, 1.2])
    with c1:
        ctl.order_choice("l_max", "lmax", top=NEQUIP_L_MAX)
    with c2:
        ctl.number("Channels per irrep", "mul", 1, MUL_MAX)
    with c3:
        ctl.layer_toggle()
    s = ctl.settings()
    irreps_in, irreps_edge, irreps_out = nequip_irreps(s.lmax, s.mul, s.layer)
    irreps_mid, paths = cached_paths(s.lmax, s.mul, s.layer)
    st.markdown(
        f"- features h_j: `{irreps_in}`\n- edge Y(r̂_ij): `{irreps_edge}`\n- kept outputs: `{irreps_out}`"
    )
    m1, m2, m3 = st.columns(3)
    m1.metric("paths", len(paths))
    m2.metric("weights per edge (from the radial MLP)", int(paths["channels"].sum()))
    m3.metric("message dimension", irreps_mid.dim)
    st.markdown("**Which outputs each pair produces** (rows: the neighbour's feature irreps; columns: the edge harmonics)")
    table(nequip_path_grid(paths), "irreps_nequip_grid", hide_index=False)
    with st.expander(f"All {len(paths)} paths as e3nn TensorProduct instructions", expanded=len(paths) <= 12):
        table(paths, "irreps_nequip_paths", height=min(36 * (len(paths) + 1) + 4, 1200))
    st.caption(
        f"Every path obeys the selection rule |l_in − l_edge| ≤ l_out ≤ l_in + l_edge and the parity rule "
        f"p_in · p_edge = p_out; outputs that are not among the features are dropped. The message's irreps "
        f"(e3nn's irreps_mid, simplified): `{irreps_mid}`; a Linear maps them back to the features."
    )


# -- page ------------------------------------------------------------------------------------------

st.title("Irreps lab")
st.caption(
    "Why equivariant features are organised by order l, and how a product of features is taken apart into "
    "irreducible pieces. Every number is computed live in float64 and checked. Links carry the settings."
)
for problem in ctl.apply_deep_link():
    st.warning(escape_markdown(problem), icon=":material/link_off:")
requested = st.query_params.get("section")
if requested is not None and requested not in SECTIONS:
    st.warning(escape_markdown(f"link parameter section={requested[:60]}: one of {', '.join(SECTIONS)}; "
                               f"using {SECTIONS[0]}"), icon=":material/link_off:")

with st.sidebar:
    st.segmented_control("Figure downloads", EXPORT_FORMATS, format_func=str.upper, default="png", key="irreps_export",
                         help="What the camera button of each figure's toolbar saves (drawn in the browser, offline): "
                              "PNG at twice the size, or SVG.")
SECTION_FUNCTIONS = [outer_product_section, rotate_section, cg_section, harmonics_section, wigner_section, nequip_section]
for tab, section in zip(st.tabs(SECTIONS, key="section", bind="query-params"), SECTION_FUNCTIONS):
    with tab:
        if tab.open:
            try:
                section()
            except EquivError as exc:
                st.error(escape_markdown(str(exc)))
