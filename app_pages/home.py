"""Home page: what equivariance means and what each page of the app does."""

import streamlit as st

from app_pages.catalog import PAGES

st.title("equiv")
st.caption("An interactive explorer for E(3)-equivariant neural networks on molecules")

st.markdown(
    """
A function of atomic coordinates is **equivariant** when rotating (or reflecting, or translating)
its input transforms its output in a matching way:
"""
)
st.latex(r"f(x\,R) \;=\; D(R)\, f(x)")
st.markdown(
    r"""
Here $x$ holds the atom positions as rows, so $x\,R$ is the rotated molecule, and $D(R)$ is the
matching representation of the rotation on the output: the identity for an energy (it is
**invariant**), the rotation itself for forces and other vectors, and a Wigner-D matrix $D^{l}(R)$
for features of order $l$. (The rest of the app writes vectors as columns: $f(R\,x) = D(R)\,f(x)$.)
Models built from equivariant pieces (GVP, NequIP) satisfy this exactly, to floating-point
precision, for every input; a plain neural network on raw coordinates does not, however it is
trained.
"""
)

if PAGES:
    st.subheader("Pages")
    for page in PAGES:
        st.page_link(page.path, label=page.title, icon=page.icon)
        st.caption(page.blurb)
