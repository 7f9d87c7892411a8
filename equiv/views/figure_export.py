"""Plotly's "download plot" button, configured for slides: PNG (at twice the size) or SVG.

The modebar's toImage runs in the browser (plotly.js draws the file itself), so it works offline.

Example:
    >>> plot_config("svg", "outer-product")["toImageButtonOptions"]["format"]
    'svg'
"""

from __future__ import annotations

__all__ = ["EXPORT_FORMATS", "plot_config"]

EXPORT_FORMATS = ("png", "svg")


def plot_config(fmt: str = "png", filename: str = "equiv-figure", scale: int = 2) -> dict:
    """The ``config`` of ``st.plotly_chart``: modebar without plotly's logo, download as ``fmt``."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"figure export format must be one of {', '.join(EXPORT_FORMATS)}, not {fmt!r}")
    return {"displaylogo": False,
            "toImageButtonOptions": {"format": fmt, "filename": filename, "scale": scale if fmt == "png" else 1}}
