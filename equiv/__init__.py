"""equiv: an interactive explorer for E(3)-equivariant neural networks on molecules.

Layers, each importing only those below it:

1. ``equiv.o3``: rotations and irreps (math).
2. ``equiv.molecules`` and ``equiv.data``: molecules and data sets.
3. ``equiv.graphs`` and ``equiv.models``: molecular graphs and the GVP, NequIP and MLP models.
4. ``equiv.training`` and ``equiv.runs``: training and the run store.
5. ``equiv.jobs``: background jobs (launcher, executor, data generation, form checks, sweeps).
6. ``equiv.views``: 3D scenes, tables and plotly figures.
7. ``equiv.widgets``: Streamlit components written for the app (the 3D molecule viewer).

``app_pages/``, ``app.py`` and ``equiv.cli`` sit on top and only call into these.
"""

__version__ = "0.1.0"
