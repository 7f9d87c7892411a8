"""The app's pages: one place that app.py (navigation) and the home page (links) both read.

A page is listed here only once it works; later features add their entry.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    path: str  # script path relative to the repository root
    title: str
    icon: str
    url_path: str
    blurb: str


HOME = PageInfo("app_pages/home.py", "Home", ":material/home:", "", "What this app is for.")

#: The feature pages, in menu order (the home page is separate).
PAGES: list[PageInfo] = [
    PageInfo(
        "app_pages/rotate.py",
        "Rotation lab",
        ":material/3d_rotation:",
        "rotate",
        "Turn a molecule and watch GVP's and NequIP's forces turn with it while an MLP's do not; "
        "reflections, a spin, the error over a full turn, and NequIP's hidden features as spherical functions.",
    ),
    PageInfo(
        "app_pages/train.py",
        "Training lab",
        ":material/model_training:",
        "train",
        "Train MLP, GVP and NequIP models on generated xTB data or rMD17 in the background, watch their errors "
        "fall live, and sweep training-set sizes to see which learns more from less data.",
    ),
    PageInfo(
        "app_pages/runs.py",
        "Runs",
        ":material/table_chart:",
        "runs",
        "Every run: filters, overlaid curves, downloads, learning curves with fitted slopes, and your results "
        "beside the published MD17 / rMD17 numbers.",
    ),
    PageInfo(
        "app_pages/md.py",
        "MD lab",
        ":material/science:",
        "md",
        "Run molecular dynamics with a trained model and see whether it holds: energy drift, temperature, "
        "h(r) against a GFN2-xTB MD, the trajectory in 3D, and a map of frames to find where a model fails.",
    ),
    PageInfo(
        "app_pages/irreps.py",
        "Irreps lab",
        ":material/blur_on:",
        "irreps",
        "Outer products, Clebsch–Gordan, spherical harmonics and Wigner-D, live and checked.",
    ),
    PageInfo(
        "app_pages/playground.py",
        "Playground",
        ":material/functions:",
        "playground",
        "Which functions of vectors are equivariant? Pick one of the seminar's examples or type your own; the page "
        "rotates, reflects and translates the input and gives the verdict, the output's irreps and the error.",
    ),
    PageInfo(
        "app_pages/tour.py",
        "Tour",
        ":material/slideshow:",
        "tour",
        "The seminar's story in ten steps, each with a live widget; step with PageDown / PageUp or the arrow keys, "
        "F for a full-screen 3D viewer, a presenter mode with large fonts.",
    ),
]
