"""Showing untrusted text (file names, SMILES, molecule titles, URL values) in Streamlit's
Markdown-rendering elements (``st.caption``, ``st.error``, ...) as the literal characters.

Streamlit renders Markdown with its own extensions: ``**bold**``, ``[links](...)``, ``$math$``,
``:material/icons:`` and ``:red[colours]``. Raw HTML is never rendered (``unsafe_allow_html`` is
off everywhere in this app), but the rest would be. Backslash-escaping every ASCII punctuation
character is what CommonMark provides for this.

Example:
    >>> escape_markdown("[x](javascript:alert(1)) $a$ *b*")
    '\\\\[x\\\\]\\\\(javascript\\\\:alert\\\\(1\\\\)\\\\) \\\\$a\\\\$ \\\\*b\\\\*'
"""

from __future__ import annotations

import string

__all__ = ["escape_markdown"]

_PUNCTUATION = frozenset(string.punctuation)


def escape_markdown(text: str) -> str:
    """``text`` with every ASCII punctuation character backslash-escaped and line breaks as spaces."""
    flat = " ".join(str(text).splitlines())
    return "".join("\\" + c if c in _PUNCTUATION else c for c in flat)
