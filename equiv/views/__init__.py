"""What the pages show: settings with deep links, tables of numbers with checks, plotly figures.

Layer 5: builds on ``equiv.o3`` … ``equiv.runs`` and imports no Streamlit, so every figure and table
can be tested without a browser. Pages only lay out widgets and call in here.
"""
