"""The settings of a training run, defined once (:data:`SETTINGS`).

Each :class:`Setting` says what one setting is: its type and bounds or choices (a
:mod:`equiv.links` rule), default, help, command-line flag, whether the training lab shows it (its
link key is then its key), and which :class:`~equiv.training.TrainConfig` field it sets. Everything
else is derived from the table:

* validation: :func:`setting_problems` (every problem at once, one sentence each, in the words of
  the person who typed it), which :class:`TrainConfig` runs on itself;
* the ``equiv train`` / ``equiv sweep`` options: :func:`add_setting_arguments`;
* the training lab's link: :func:`parse_lab_link` / :func:`lab_link`, and its widgets' bounds
  and help (:data:`LAB`);
* the :class:`TrainConfig` fields of the lab's form: :func:`config_values`.

The lab's form speaks in what people choose (a data-set kind and a molecule, layers and channels,
budgets where 0 means "no limit of this kind"); :func:`config_values` composes those into the
config's data spec and model options.

Example:
    >>> setting_problems({"n_train": 0, "lr": 5.0, "batch_size": 3})
    ['The training-set size must be at least 1, not 0.', 'The learning rate must be a number above 0 and at most 1, not 5.0.']
    >>> parse_lab_link({"model": "gvp", "n_train": "200", "layers": "99"})
    ({'model': 'gvp', 'n_train': 200}, ['link parameter layers=99: a whole number from 1 to 8; using the preset'])
    >>> lab_link({**LAB_DEFAULTS, "model": "gvp", "n_train": 200})
    {'model': 'gvp', 'n_train': '200'}
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

from equiv.data import XTB_LEVEL_OF_THEORY
from equiv.data.rmd17 import RMD17_LEVEL_OF_THEORY
from equiv.links import Choice, LinkError, Real, Rule, Whole, decode, encode
from equiv.molecules import LIBRARY

__all__ = ["Setting", "SETTINGS", "BY_KEY", "LAB", "LAB_DEFAULTS", "SWEEP_DEFAULTS", "LAB_MODELS", "MODEL_TITLES",
           "DATA_KINDS", "DEFAULT_SWEEP_STEPS", "setting_problems", "add_setting_arguments", "parse_lab_link",
           "lab_link", "config_values", "size_overrides", "preset_size"]

#: The models the training lab offers, in menu order.
LAB_MODELS = ("mlp", "gvp", "nequip-l0", "nequip-l1", "nequip-l2", "nequip-l3")
MODEL_TITLES = {
    "mlp": "MLP on coordinates (not equivariant)",
    "gvp": "GVP-GNN (equivariant, vectors)",
    "nequip-l0": "NequIP l_max = 0 (invariant features)",
    "nequip-l1": "NequIP l_max = 1",
    "nequip-l2": "NequIP l_max = 2",
    "nequip-l3": "NequIP l_max = 3",
}
#: Data-set kinds of the lab: generated GFN2-xTB molecular dynamics of a library molecule, or rMD17.
DATA_KINDS = {"xtb": f"generated MD ({XTB_LEVEL_OF_THEORY})", "rmd17": f"rMD17 ({RMD17_LEVEL_OF_THEORY})"}
#: Optimizer steps per member of a sweep when no budget is given (the lab's sweep default: its
#: default grid, 24 small runs, takes about 15 minutes on a 2-core CPU; see the README).
DEFAULT_SWEEP_STEPS = 1000
#: A week, the longest time budget.
_WEEK_S = 7 * 24 * 3600
_MANY = 10_000_000
_CUDA_N = re.compile(r"cuda:\d+")


def _presets() -> tuple[str, ...]:
    from equiv.models import PRESETS  # the registry's names (imports torch: only when checked)

    return tuple(PRESETS)


@dataclass(frozen=True)
class Setting:
    """One setting of a training run.

    Attributes:
        key: its name; the :class:`TrainConfig` field it sets unless ``field`` says otherwise, and
            in the lab the form's key, the link's key and the widget's key suffix.
        what: its name in messages (``"the training-set size"``).
        rule: what a value may be (:mod:`equiv.links`); ``None`` for free text.
        default: the value when none is given (``None``: empty, meaning the preset's, the
            architecture's or no limit).
        help: one line for ``--help`` and the widget's tooltip.
        flag: the command-line flag (``None``: not an option of its own).
        lab: the training lab's form shows it (and its link carries it).
        field: the :class:`TrainConfig` field (empty: the key itself; ``None``: none, the value is
            composed into other fields by :func:`config_values`).
        zero_means_none: 0 means "no limit of this kind" (the lab's budgets).
        empty: what an empty value means, for messages (``"the preset"``).
        beyond: what a run takes beyond the lab's menu (a :class:`Beyond`; ``None``: the menu only).
    """

    key: str
    what: str
    rule: Rule | None
    default: Any = None
    help: str = ""
    flag: str | None = None
    lab: bool = False
    field: str | None = ""
    zero_means_none: bool = False
    empty: str = "the default"
    beyond: "Beyond | None" = None

    @property
    def config_field(self) -> str | None:
        return self.key if self.field == "" else self.field

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not a value of this setting (``None`` when it is)."""
        if value is None or self.rule is None or (self.zero_means_none and value == 0):
            return None
        what = self.what[0].upper() + self.what[1:]
        rule = self.rule
        if isinstance(rule, Whole):
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{what} must be a whole number, not {value!r}."
            if value < rule.low:
                return f"{what} must be at least {rule.low:,}, not {value:,}."
            if value > rule.high:
                return f"{what} of {value:,} is more than this app runs (at most {rule.high:,})."
            return None
        if isinstance(rule, Real):
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok:
                try:
                    rule.parse(repr(float(value)))
                except LinkError:
                    ok = False
            return None if ok else f"{what} must be {rule.rule}, not {value!r}."
        if isinstance(rule, Choice):
            accepted = self.beyond.options() if self.beyond and self.beyond.options else rule.options
            if value in accepted or (self.beyond and self.beyond.pattern and isinstance(value, str)
                                     and self.beyond.pattern.fullmatch(value)):
                return None
            extra = f" or {self.beyond.pattern_text}" if self.beyond and self.beyond.pattern else ""
            return f"{what} must be one of {', '.join(accepted)}{extra}, not {value!r}."
        return None


@dataclass(frozen=True)
class Beyond:
    """Values a run takes that the lab's menu (a :class:`~equiv.links.Choice`) does not offer:
    ``options()`` replaces the menu's list (every model preset), ``pattern`` adds the values it
    matches (``cuda:N``, named ``pattern_text`` in messages)."""

    options: Callable[[], tuple[str, ...]] | None = None
    pattern: re.Pattern | None = None
    pattern_text: str = ""


#: Every setting of a training run, in the order ``--help`` and the lab's link list them.
SETTINGS: tuple[Setting, ...] = (
    Setting("model", "the model", Choice(LAB_MODELS), "nequip-l1", "model preset", "--model", lab=True,
            beyond=Beyond(options=_presets)),  # nequip-paper, too
    Setting("data", "the data set kind", Choice(tuple(DATA_KINDS)), "xtb", "xtb: generated GFN2-xTB MD of the "
            "molecule (equiv data generate); rmd17: rMD17", "--data", lab=True, field=None),
    Setting("molecule", "the molecule", Choice(tuple(LIBRARY)), "ethanol", "a library molecule", "--molecule",
            lab=True, field=None),
    Setting("data_spec", "the data set", None, "xtb:ethanol", "rmd17:<molecule>[:NN], xtb:<molecule>, or a file "
            "(.npz written by equiv, extended XYZ)", "--data", field="data"),
    Setting("data_dir", "the rMD17 folder", None, None, "rMD17 folder (default: $EQUIV_RMD17_DIR or the data home)",
            "--data-dir"),
    Setting("n_train", "the training-set size", Whole(1, _MANY), 100, "training structures", "--n-train", lab=True),
    Setting("n_val", "the validation-set size", Whole(1, _MANY), 50, "validation structures", "--n-val", lab=True),
    Setting("n_test", "the test-set size", Whole(1, _MANY), None, "test structures (default: the whole test split)",
            "--n-test", empty="the whole test split"),
    Setting("epochs", "the number of epochs", Whole(0, 100_000), 30, "epochs to train (0: no limit)", "--epochs",
            lab=True, zero_means_none=True),
    Setting("seconds", "the time limit", Real(0, _WEEK_S), 0.0, "training time budget in seconds (0: no limit)",
            "--max-time", lab=True, field="max_time_s", zero_means_none=True),
    Setting("steps", "the number of steps", Whole(0, 100_000_000), 0, "optimizer steps (0: no limit; alone: the "
            "budget, with a cosine schedule to zero over them, as in sweeps)", "--steps", lab=True, field="max_steps",
            zero_means_none=True),
    Setting("device", "the device", Choice(("auto", "cpu", "cuda")), "auto", "auto (CUDA when present), cpu, cuda "
            "or cuda:N", "--device", lab=True, beyond=Beyond(pattern=_CUDA_N, pattern_text="cuda:N")),
    Setting("seed", "the seed", Whole(0, 2**31 - 1), 0, "initialisation, split and batch-order seed", "--seed",
            lab=True),
    Setting("lr", "the learning rate", Real(0, 1, low_open=True), None, "learning rate (default 0.01; GVP 0.003)",
            "--lr", lab=True, empty="the architecture's"),
    Setting("batch", "the batch size", Whole(1, 1000), 5, "structures per optimizer step", "--batch-size", lab=True,
            field="batch_size"),
    Setting("layers", "the number of layers", Whole(1, 8), None, "interaction layers (MLP: hidden layers)",
            "--layers", lab=True, field=None, empty="the preset"),
    Setting("channels", "the number of channels", Whole(1, 256), None, "channels per irrep (GVP: scalar channels; "
            "MLP: width)", "--channels", lab=True, field=None, empty="the preset"),
    Setting("dtype", "the dtype", Choice(("float32", "float64")), "float32", "floating-point precision", "--dtype"),
    Setting("threads", "the number of threads", Whole(1, 1024), None, "CPU threads (default: the cores other "
            "processes leave idle, re-checked every epoch; give a number for bit-identical reruns)", "--threads"),
    Setting("energy_weight", "the energy weight", Real(0, 1e9), 1.0, "energy loss weight", "--energy-weight"),
    Setting("force_weight", "the force weight", Real(0, 1e9), 1000.0, "force loss weight", "--force-weight"),
    Setting("ema_decay", "the EMA decay", Real(0, 0.999999), 0.99, "EMA decay of the weights (0: no EMA)",
            "--ema-decay"),
    Setting("lr_schedule", "the learning-rate schedule", Choice(("plateau", "cosine")), None, "plateau: "
            "reduce-on-plateau, the NequIP recipe; cosine: anneal to zero over the budget (default with --steps "
            "alone)", "--lr-schedule", empty="plateau, or cosine with a step budget alone"),
    Setting("plateau_patience", "the plateau patience", Whole(1, 1_000_000), 50, "reduce-on-plateau patience in "
            "epochs", "--patience"),
    Setting("plateau_factor", "the plateau factor", Real(0, 0.999999, low_open=True), 0.8,
            "reduce-on-plateau factor"),
    Setting("min_lr", "the minimum learning rate", Real(0, 1), 1e-6, "stop below this learning rate"),
    Setting("early_stop_patience", "the early-stopping patience", Whole(1, 1_000_000), None, "stop after this many "
            "epochs without a better validation loss", "--early-stop", empty="never"),
    Setting("val_every_steps", "the validation interval", Whole(1, 100_000_000), None, "validate after this many "
            "optimizer steps (default: every epoch)"),
    Setting("eval_batch_size", "the evaluation batch size", Whole(1, 100_000), 50, "structures per evaluation batch"),
    Setting("checkpoint", "the checkpoint", None, None, "where the best checkpoint goes (default: the data home's "
            "checkpoints/)", "--checkpoint"),
    Setting("energy_key", "the energy key", None, None, "energy key of an extended XYZ file", "--energy-key"),
    Setting("forces_key", "the forces key", None, None, "forces key of an extended XYZ file", "--forces-key"),
)
BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
#: The training lab's settings: form key → setting.
LAB: dict[str, Setting] = {s.key: s for s in SETTINGS if s.lab}
#: The lab's form as it opens.
LAB_DEFAULTS: dict[str, Any] = {key: s.default for key, s in LAB.items()}
#: The sweep form starts smaller: a grid of short runs with the fair budget, the same optimizer
#: steps for every member (cosine schedule to zero). Its default grid (mlp, nequip-l0, nequip-l1;
#: 25–200 structures; 2 seeds: 24 runs) takes about 15 minutes on a 2-core CPU.
SWEEP_DEFAULTS: dict[str, Any] = {**LAB_DEFAULTS, "n_val": 25, "epochs": 0, "seconds": 0.0,
                                  "steps": DEFAULT_SWEEP_STEPS, "layers": 2, "channels": 8}


def _by_field() -> dict[str, Setting]:
    return {s.config_field: s for s in SETTINGS if s.config_field}


def setting_problems(values: Mapping[str, Any], *, by_field: bool = False) -> list[str]:
    """Every problem of ``values`` (keyed by setting key, or by config field with ``by_field``),
    one sentence each: values outside their setting's rule, and the rules between settings (a
    batch no larger than the training set, something to train)."""
    table = _by_field() if by_field else BY_KEY
    problems = [p for key, value in values.items() if key in table and (p := table[key].problem(value))]
    get = (lambda s: values.get(BY_KEY[s].config_field)) if by_field else values.get
    n_train, batch = get("n_train"), get("batch")
    if isinstance(n_train, int) and isinstance(batch, int) and 1 <= n_train < batch:
        problems.append(f"The batch size ({batch}) is larger than the training set ({n_train} structures).")
    if get("energy_weight") == 0 and get("force_weight") == 0:
        problems.append("The energy and force weights are both 0: nothing to train.")
    return problems


def add_setting_arguments(parser: argparse.ArgumentParser, keys: Iterable[str], *,
                          defaults: Mapping[str, Any] | None = None, required: Iterable[str] = ()) -> None:
    """Add the options of ``keys`` (settings with a flag) to ``parser``: types from their rules,
    help and defaults from the table (``defaults`` overrides; checked later, all at once)."""
    required = set(required)
    for key in keys:
        s = BY_KEY[key]
        default = (defaults or {}).get(key, s.default)
        kind = int if isinstance(s.rule, Whole) else float if isinstance(s.rule, Real) else str
        shown = f" (default {default:g})" if isinstance(default, float) else f" (default {default})" if default is not None else ""
        dest = s.config_field or key
        parser.add_argument(s.flag, dest=dest, type=kind, default=None if key in required else default,
                            required=key in required, metavar=_metavar(s),
                            help=s.help + ("" if key in required else shown))


def _metavar(s: Setting) -> str:
    if s.key == "seconds":
        return "SECONDS"
    if isinstance(s.rule, Whole):
        return "N"
    if isinstance(s.rule, Real):
        return "X"
    if isinstance(s.rule, Choice):
        return "|".join(s.rule.options) if s.key != "model" else "NAME"
    return s.key.upper()


def parse_lab_link(query: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The lab's form values a link sets (only the valid ones) and a message for each bad one."""
    fallback = {k: s.empty if s.default is None else str(s.default) for k, s in LAB.items()}
    return decode(query, {k: s.rule for k, s in LAB.items()}, fallback)  # type: ignore[misc]


def lab_link(values: Mapping[str, Any]) -> dict[str, str]:
    """The link of a lab form: the values that differ from :data:`LAB_DEFAULTS`, as text."""
    return encode(values, {k: s.rule for k, s in LAB.items()}, LAB_DEFAULTS)  # type: ignore[misc]


def size_overrides(model: str, layers: int | None = None, channels: int | None = None) -> dict[str, Any]:
    """Model options for "layers" and "channels", the two sizes people tune, in each
    architecture's own terms: NequIP ``n_layers``/``channels``; GVP ``n_layers``,
    ``scalar_channels`` = channels and ``vector_channels`` = channels / 2; MLP ``hidden`` =
    layers × channels.

    >>> size_overrides("gvp", layers=2, channels=16)
    {'n_layers': 2, 'scalar_channels': 16, 'vector_channels': 8}
    >>> size_overrides("mlp", layers=2, channels=64)
    {'hidden': [64, 64]}
    """
    family = model.split("-")[0]
    out: dict[str, Any] = {}
    if family == "mlp":
        if layers is not None or channels is not None:
            out["hidden"] = [channels or 128] * (layers or 3)
    elif family == "gvp":
        if layers is not None:
            out["n_layers"] = layers
        if channels is not None:
            out["scalar_channels"] = channels
            out["vector_channels"] = max(1, channels // 2)
    else:
        if layers is not None:
            out["n_layers"] = layers
        if channels is not None:
            out["channels"] = channels
    return out


def preset_size(model: str) -> tuple[int, int]:
    """(layers, channels) of a preset as built by default (MLP: hidden layers and width)."""
    from equiv.models import ARCHITECTURES, PRESETS

    preset = PRESETS[model]
    cfg = ARCHITECTURES[preset.kind].config_class
    fields_ = {f: getattr(cfg, f) for f in cfg.__dataclass_fields__ if hasattr(cfg, f)}
    fields_.update(preset.overrides)
    if preset.kind == "mlp":
        hidden = tuple(fields_["hidden"])
        return len(hidden), int(hidden[0])
    if preset.kind == "gvp":
        return int(fields_["n_layers"]), int(fields_["scalar_channels"])
    return int(fields_["n_layers"]), int(fields_["channels"])


def config_values(values: Mapping[str, Any], data_dir: str | None = None) -> dict[str, Any]:
    """The :class:`TrainConfig` fields of a lab form (or command line) in setting keys: the data
    spec from kind and molecule, model options from layers and channels, 0 budgets as no limit, and
    a cosine schedule for a step budget alone."""
    v = {**LAB_DEFAULTS, **values}
    out: dict[str, Any] = {}
    for key, value in v.items():
        s = BY_KEY.get(key)
        if s is None or not s.config_field:
            continue
        out[s.config_field] = None if s.zero_means_none and not value else value
    out["data"] = v.get("data_spec") or f"{v['data']}:{v['molecule']}"
    out["model_options"] = {**size_overrides(v["model"], v.get("layers"), v.get("channels")),
                            **dict(v.get("model_options") or {})}
    out["data_dir"] = data_dir if v.get("data") == "rmd17" or "data_spec" in v else None
    if out.get("lr_schedule") is None:
        alone = out.get("max_steps") and out.get("epochs") is None and out.get("max_time_s") is None
        out["lr_schedule"] = "cosine" if alone else "plateau"
    out["max_time_s"] = None if out.get("max_time_s") is None else float(out["max_time_s"])
    return out
