"""Make sure a declared component is registered with the running Streamlit server.

``components.declare_component`` registers a component with the server only when it runs inside a
script run (it checks for a script-run context); the components here are declared at import time.
Twice in ten end-to-end runs on a loaded machine the server answered the rotation viewer's
``index.html`` with 404 and the iframe stayed blank ("Custom Component ... timeout error" in the
browser). The cause was not pinned down (every import logged was inside a script run); a component
missing from the registry is the one path to that 404 we know of, so :func:`registered` puts it
back, from the page's script run, before each call, and says so on stderr.
"""

from __future__ import annotations

import sys
from typing import TypeVar

from streamlit import runtime

__all__ = ["registered"]

Component = TypeVar("Component")


def registered(component: Component) -> Component:
    """``component`` (a declared custom component), registered with the running server if it was not."""
    if runtime.exists():
        registry = runtime.get_instance().component_registry
        if registry.get_component(component.name) is None:  # type: ignore[attr-defined]
            registry.register_component(component)  # type: ignore[arg-type]
            print(f"equiv: registered the {component.name} component again (its declaration "  # type: ignore[attr-defined]
                  "ran outside a script run)", file=sys.stderr, flush=True)
    return component
