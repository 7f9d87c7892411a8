"""Reading what a page shows through AppTest: tables in keyed containers, plotly figures and custom
components by key."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(page: str, query: dict[str, str] | None = None, timeout: float = 120) -> AppTest:
    """Run ``app.py`` switched to ``page`` (e.g. "app_pages/irreps.py") with a URL query."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.switch_page(page)
    return at.run()


def _walk(node: Any):
    yield node
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for child in children.values():
            yield from _walk(child)


def _node_id(node: Any) -> str:
    proto = getattr(node, "proto", None)
    return getattr(proto, "id", "") or ""


def keyed_block(at: AppTest, key: str) -> Any:
    """The container created with ``st.container(key=key)``."""
    for node in _walk(at.main):
        if _node_id(node).endswith(f"-{key}") and node.__class__.__name__ == "Block":
            return node
    raise AssertionError(f"no container with key {key!r} on the page")


def table(at: AppTest, key: str) -> pd.DataFrame:
    """The dataframe inside the container ``key``."""
    for node in _walk(keyed_block(at, key)):
        if node.__class__.__name__ == "Dataframe":
            return node.value
    raise AssertionError(f"no dataframe inside container {key!r}")


def _decode(value: Any) -> Any:
    """Plotly's JSON encodes numpy arrays as {"dtype", "bdata", "shape"}; turn them back into arrays."""
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:
            arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
            if "shape" in value:
                arr = arr.reshape([int(s) for s in str(value["shape"]).split(",")])
            return arr
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def figure(at: AppTest, key: str) -> dict:
    """The plotly figure (``data`` and ``layout``, arrays decoded) drawn with ``key``."""
    for node in _walk(at.main):
        if _node_id(node).endswith(f"-{key}") and hasattr(node.proto, "spec"):
            return _decode(json.loads(node.proto.spec))
    raise AssertionError(f"no plotly chart with key {key!r} on the page")


def component_args(at: AppTest, key: str) -> dict:
    """The arguments a custom component with ``key`` was called with (e.g. a 3D viewer's scene)."""
    for node in _walk(at.main):
        if _node_id(node).endswith(f"-{key}") and hasattr(node.proto, "json_args"):
            return json.loads(node.proto.json_args)
    raise AssertionError(f"no custom component with key {key!r} on the page")


def texts(at: AppTest, kind: str) -> list[str]:
    """Values of all elements of one kind: "warning", "error", "info", "success", "latex", "markdown"."""
    return [e.value for e in getattr(at, kind)]


def shown(at: AppTest, kind: str) -> list[str]:
    """Like :func:`texts`, with the Markdown escapes of ``equiv.views.text.escape_markdown`` undone
    (what a reader sees)."""
    return [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", t) for t in texts(at, kind)]
