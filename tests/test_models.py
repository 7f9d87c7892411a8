"""The three models behind one interface: (non-)equivariance, forces, batching, locality, checkpoints.

Equivariant models are held to 1e-10 relative in float64 and 1e-4 in float32 (TF32 off).
"""

import json

import numpy as np
import pytest
import torch

from equiv.data.rmd17 import load_rmd17
from equiv.errors import EquivError
from equiv.graphs import AtomsBatch
from equiv.models import (
    CHECKPOINT_FORMAT_VERSION,
    PRESETS,
    CheckpointError,
    build_model,
    coordinate_statistics,
    load_checkpoint,
    save_checkpoint,
)
from equiv.models.equivariance import equivariance_report, relative_error
from equiv.molecules import Molecule, load_molecule
from equiv.o3 import random_rotation, reflection, wigner_D

SMALL = {
    "gvp": dict(scalar_channels=8, vector_channels=4, n_layers=2),
    "nequip": dict(channels=4, n_layers=2, radial_hidden=(16,)),
}
EQUIVARIANT = [
    ("gvp", {}),
    ("nequip", {"l_max": 0}),
    ("nequip", {"l_max": 1}),
    ("nequip", {"l_max": 2}),
    ("nequip", {"l_max": 3}),
    ("nequip", {"l_max": 2, "parity": False}),
    ("nequip", {"l_max": 2, "resnet": True}),
]


def small_model(name, dtype=torch.float64, numbers=None, **overrides):
    kind = PRESETS[name].kind
    return build_model(name, dtype=dtype, numbers=numbers, **{**SMALL.get(kind, {}), **overrides})


def run(model, molecules, dtype=torch.float64):
    return model(AtomsBatch.from_molecules(molecules, dtype=dtype))


@pytest.fixture(scope="module")
def ethanol():
    return load_molecule("ethanol")


@pytest.fixture(scope="module")
def aspirin():
    return load_molecule("aspirin")


def _label(p):
    return "-".join(f"{k}={v}" for k, v in p.items()) or "default"


# -- equivariance --------------------------------------------------------------------------------


@pytest.mark.parametrize("name,overrides", EQUIVARIANT, ids=[f"{n}-{_label(o)}" for n, o in EQUIVARIANT])
def test_equivariance_float64(aspirin, name, overrides):
    model = small_model(name, numbers=aspirin.numbers, **overrides)
    reflections = overrides.get("parity", True)
    rep = equivariance_report(model, aspirin, trials=3, reflections=reflections, seed=1)
    for out in ("energy", "forces", "atom_vectors"):
        for kind in ("rotation", "translation", "permutation") + (("reflection",) if reflections else ()):
            assert rep[out][kind] < 1e-10, (out, kind, rep[out][kind])
    # The outputs are not trivially zero (a zero output would pass any equivariance test).
    out = run(model, [aspirin])
    assert out["forces"].norm() > 1e-3
    if overrides.get("l_max", 2) > 0:
        assert out["atom_vectors"].norm() > 1e-3


@pytest.mark.parametrize("name,overrides", [("gvp", {}), ("nequip", {"l_max": 2})])
def test_equivariance_float32(aspirin, name, overrides):
    model = small_model(name, dtype=torch.float32, numbers=aspirin.numbers, **overrides)
    rep = equivariance_report(model, aspirin, trials=3, reflections=True, seed=2)
    for out in ("energy", "forces", "atom_vectors"):
        for kind in ("rotation", "translation", "permutation", "reflection"):
            assert rep[out][kind] < 1e-4, (out, kind, rep[out][kind])


def test_nequip_without_parity_is_only_so3(aspirin):
    # Rotations: exact. Reflections: the cross-product paths (1 ⊗ 1 → 1, labelled even) break O(3):
    # at once for atom_vectors, and from the third layer on for the energy (a triple product).
    model = small_model("nequip", numbers=aspirin.numbers, l_max=2, parity=False, n_layers=3)
    rep = equivariance_report(model, aspirin, trials=3, reflections=True, seed=3)
    assert rep["forces"]["rotation"] < 1e-10
    assert rep["atom_vectors"]["reflection"] > 1e-4
    assert rep["forces"]["reflection"] > 1e-6


def test_mlp_is_not_equivariant_untrained(aspirin):
    model = build_model("mlp", dtype=torch.float64, numbers=aspirin.numbers)
    rep = equivariance_report(model, aspirin, trials=3, seed=4)
    assert rep["forces"]["rotation"] > 1e-2 and rep["atom_vectors"]["rotation"] > 1e-2
    assert rep["energy_change_mev"]["rotation"] > 1e-3
    assert rep["forces"]["translation"] < 1e-10  # centred coordinates: translation invariant
    assert rep["forces"]["permutation"] > 1e-2


def test_mlp_with_rotation_augmentation_still_not_equivariant():
    from tests.conftest import RMD17_SLICE

    data = load_rmd17("ethanol", "train", 1, RMD17_SLICE)  # eV, eV/Å, 60 frames
    z, pos, e, f = data.numbers, data.positions, data.energies, data.forces
    torch.manual_seed(0)
    model = build_model("mlp", dtype=torch.float64, numbers=z, augment_rotations=True, hidden=(64, 64))
    batch = AtomsBatch.from_arrays([z] * len(pos), list(pos), energy=e - e.mean(), forces=list(f))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(60):
        out = model(batch)
        loss = ((out["energy"] - batch.energy) ** 2).mean() + 10 * ((out["forces"] - batch.forces) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first  # it trained (with rotations drawn afresh every step)
    mol = Molecule(z, pos[0], "ethanol")
    rep = equivariance_report(model, mol, trials=5, seed=5)
    assert rep["forces"]["rotation"] > 1e-2, rep["forces"]
    assert model.training is True  # the report restores the mode


def test_hidden_features_rotate_with_wigner_D(ethanol):
    model = small_model("nequip", numbers=ethanol.numbers, l_max=2, n_layers=3)
    R = random_rotation(generator=torch.Generator().manual_seed(6))
    f0 = run(model, [ethanol])["features"]
    f1 = run(model, [ethanol.rotated(R.numpy())])["features"]
    assert set(f0) == {"0e", "0o", "1e", "1o", "2e", "2o"}  # 0o first appears in layer 3
    for ir, h in f0.items():
        expected = h @ wigner_D(ir, R).T  # [n_atoms, mul, 2l+1]
        assert relative_error(f1[ir], expected) < 1e-10, ir
        assert h.norm() > 0 or ir.startswith("0o")
    gvp = small_model("gvp", numbers=ethanol.numbers)
    g0 = run(gvp, [ethanol])["features"]
    g1 = run(gvp, [ethanol.rotated(R.numpy())])["features"]
    assert relative_error(g1["1o"], g0["1o"] @ R.T) < 1e-10
    assert relative_error(g1["0e"], g0["0e"]) < 1e-10


# -- forces -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gvp", "nequip", "mlp"])
def test_forces_match_finite_differences(ethanol, name):
    model = small_model(name, numbers=ethanol.numbers)
    model.eval()
    forces = run(model, [ethanol])["forces"].numpy()
    h = 1e-5
    fd = np.zeros_like(forces)
    for a in range(ethanol.n_atoms):
        for k in range(3):
            plus, minus = ethanol.positions.copy(), ethanol.positions.copy()
            plus[a, k] += h
            minus[a, k] -= h
            e_plus = run(model, [ethanol.with_positions(plus)])["energy"].item()
            e_minus = run(model, [ethanol.with_positions(minus)])["energy"].item()
            fd[a, k] = -(e_plus - e_minus) / (2 * h)
    assert np.abs(forces - fd).max() < 1e-7 * max(1.0, np.abs(forces).max())
    assert np.abs(forces).max() > 1e-4


@pytest.mark.parametrize("name", ["gvp", "nequip", "mlp"])
def test_forces_in_eval_and_train_mode(ethanol, name):
    model = small_model(name, numbers=ethanol.numbers)
    model.eval()
    out = run(model, [ethanol])
    assert out["forces"].shape == (ethanol.n_atoms, 3) and not out["forces"].requires_grad
    model.train()
    out = run(model, [ethanol])
    loss = (out["forces"] ** 2).sum() + out["energy"].sum() ** 2
    loss.backward()  # the force loss reaches the weights (double backward)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and sum(float(g.abs().sum()) for g in grads) > 0


# -- batching and locality -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gvp", "nequip"])
def test_batch_equals_single(name):
    mols = [load_molecule(k) for k in ("water", "ethanol", "aspirin", "uracil")]
    model = small_model(name, numbers=np.concatenate([m.numbers for m in mols]))
    batched = run(model, mols)
    offset = 0
    for i, m in enumerate(mols):
        single = run(model, [m])
        sl = slice(offset, offset + m.n_atoms)
        assert abs(batched["energy"][i] - single["energy"][0]) < 1e-12 * max(1, abs(single["energy"][0]))
        assert (batched["forces"][sl] - single["forces"]).abs().max() < 1e-12
        assert (batched["atom_vectors"][sl] - single["atom_vectors"]).abs().max() < 1e-12
        offset += m.n_atoms


def test_mlp_batch_equals_single(ethanol):
    model = build_model("mlp", dtype=torch.float64, numbers=ethanol.numbers)
    R = random_rotation(generator=torch.Generator().manual_seed(9)).numpy()
    mols = [ethanol, ethanol.rotated(R)]
    batched = run(model, mols)
    for i, m in enumerate(mols):
        assert abs(batched["energy"][i] - run(model, [m])["energy"][0]) < 1e-12


@pytest.mark.parametrize("name", ["gvp", "nequip"])
def test_locality_far_apart_molecules_add(name):
    a, b = load_molecule("ethanol"), load_molecule("water")
    model = small_model(name, numbers=np.concatenate([a.numbers, b.numbers]), r_max=4.0)
    far = b.translated([30.0, 0.0, 0.0])  # far beyond r_max
    combined = Molecule(np.concatenate([a.numbers, far.numbers]), np.concatenate([a.positions, far.positions]), "pair")
    e_pair = run(model, [combined])["energy"].item()
    e_sum = run(model, [a])["energy"].item() + run(model, [b])["energy"].item()
    assert abs(e_pair - e_sum) < 1e-12 * max(1, abs(e_sum))
    near = b.translated([3.0, 0.0, 0.0])  # within r_max: they interact
    combined_near = Molecule(np.concatenate([a.numbers, near.numbers]), np.concatenate([a.positions, near.positions]), "pair")
    assert abs(run(model, [combined_near])["energy"].item() - e_sum) > 1e-8


def test_energy_is_smooth_at_the_cutoff():
    # A neighbour crossing r_max changes energy and forces continuously (polynomial envelope).
    water = load_molecule("water")
    model = small_model("nequip", numbers=water.numbers, r_max=4.0)
    energies = []
    for d in (3.9999, 4.0001):
        other = water.translated([d + water.positions[:, 0].max() - water.positions[:, 0].min(), 0, 0])
        pair = Molecule(np.concatenate([water.numbers, other.numbers]), np.concatenate([water.positions, other.positions]))
        energies.append(run(model, [pair])["energy"].item())
    assert abs(energies[0] - energies[1]) < 1e-9


# -- interface details ------------------------------------------------------------------------------


def test_unknown_element_is_a_clear_error():
    model = small_model("gvp")  # H, C, N, O
    sulfur = Molecule(np.array([16, 1]), np.array([[0, 0, 0], [0, 0, 1.34]]), "SH")
    with pytest.raises(EquivError, match="also contains S"):
        run(model, [sulfur])


def test_mlp_refuses_other_molecules(ethanol):
    model = build_model("mlp", numbers=ethanol.numbers)
    with pytest.raises(EquivError, match="fixed order"):
        run(model, [load_molecule("water")], dtype=torch.float32)
    with pytest.raises(EquivError, match="fixed molecule"):
        build_model("mlp")


def test_mlp_standardizes_its_inputs(ethanol):
    """The network sees (centred x − input_mean) / input_std: with input_mean = −centred x (std 1)
    ethanol looks like ethanol stretched to twice its size to the plain MLP, and so does std ½."""
    x = ethanol.positions - ethanol.positions.mean(axis=0)  # [9, 3] Å
    plain = build_model("mlp", dtype=torch.float64, numbers=ethanol.numbers, seed=4)
    stretched = run(plain, [ethanol.with_positions(2 * ethanol.positions)])["energy"].item()
    shifted = build_model("mlp", dtype=torch.float64, numbers=ethanol.numbers, seed=4,
                          input_mean=tuple((-x).reshape(-1).tolist()), input_std=(1.0,) * 27)
    halved = build_model("mlp", dtype=torch.float64, numbers=ethanol.numbers, seed=4, input_std=(0.5,) * 27)
    assert run(shifted, [ethanol])["energy"].item() == pytest.approx(stretched, abs=1e-12)
    assert run(halved, [ethanol])["energy"].item() == pytest.approx(stretched, abs=1e-12)
    assert run(plain, [ethanol])["energy"].item() != pytest.approx(stretched, abs=1e-6)


def test_mlp_input_statistics_are_checked_and_measured(ethanol):
    with pytest.raises(EquivError, match="input_mean needs 3 × 9 values"):
        build_model("mlp", numbers=ethanol.numbers, input_mean=(0.0,) * 3)
    with pytest.raises(EquivError, match="input_std must be positive"):
        build_model("mlp", numbers=ethanol.numbers, input_std=(0.0,) * 27)
    frames = ethanol.positions[None] + np.random.default_rng(0).normal(0, 0.1, (50, 9, 3)) + [5.0, 0, 0]  # moved
    stats = coordinate_statistics(frames)
    centred = ethanol.positions - ethanol.positions.mean(axis=0)
    assert np.allclose(stats["input_mean"], centred.reshape(-1), atol=0.06)  # centring removed the shift
    assert all(0.05 < s < 0.15 for s in stats["input_std"])


def test_registry_paper_configuration():
    cfg = PRESETS["nequip-paper"].overrides
    assert cfg["n_layers"] == 5 and cfg["channels"] == 64 and cfg["l_max"] == 3 and cfg["r_max"] == 4.0
    assert cfg["radial_hidden"] == (64, 64, 64) and cfg["n_basis"] == 8 and cfg["cutoff_p"] == 6
    with pytest.raises(EquivError, match="unknown model"):
        build_model("transformer")


def test_energy_normalization_is_applied(ethanol):
    model = small_model("nequip", numbers=ethanol.numbers)
    e0 = run(model, [ethanol])["energy"].item()
    n_species = model.n_species
    model.set_energy_normalization(torch.arange(n_species, dtype=torch.float64), 2.0)
    species = model.species_index(torch.tensor(ethanol.numbers))
    expected_shift = float(torch.arange(n_species, dtype=torch.float64)[species].sum())
    assert abs(run(model, [ethanol])["energy"].item() - (2 * e0 + expected_shift)) < 1e-10


@pytest.mark.slow
def test_seeded_builds_are_identical():
    a = build_model("nequip", channels=4, seed=3)
    b = build_model("nequip", channels=4, seed=3)
    c = build_model("nequip", channels=4, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), c.state_dict().values()))


# -- checkpoints ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gvp", "nequip", "mlp"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_checkpoint_round_trip_is_exact(tmp_path, ethanol, name, dtype):
    model = small_model(name, dtype=dtype, numbers=ethanol.numbers)
    model.set_energy_normalization(torch.linspace(-10, -1, model.n_species), 0.7)
    path = save_checkpoint(model, tmp_path / f"{name}.pt", {"data": "test"})
    loaded = load_checkpoint(path)
    assert loaded.metadata == {"data": "test"}
    assert type(loaded.model) is type(model) and loaded.model.config == model.config
    a, b = run(model.eval(), [ethanol], dtype), run(loaded.model, [ethanol], dtype)
    for k in ("energy", "forces", "atom_vectors"):
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("name", ["gvp", "nequip"])
def test_a_float32_checkpoint_loaded_in_float64_is_equivariant_to_float64_precision(tmp_path, aspirin, name):
    """Loading builds the model in the asked dtype: e3nn's constants keep float64 precision (a
    detour through float32 left NequIP equivariant to 1e-9 only, which `equiv evaluate` showed)."""
    model = small_model(name, dtype=torch.float32, numbers=aspirin.numbers, **({"l_max": 2} if name == "nequip" else {}))
    path = save_checkpoint(model, tmp_path / f"{name}.pt")
    loaded = load_checkpoint(path, dtype=torch.float64).model
    rep = equivariance_report(loaded, aspirin, trials=2, reflections=True, seed=3)
    for out in ("energy", "forces", "atom_vectors"):
        assert rep[out]["rotation"] < 1e-12 and rep[out]["reflection"] < 1e-12, (out, rep[out])
    a, b = run(model.eval(), [aspirin], torch.float32), run(loaded, [aspirin], torch.float64)
    torch.testing.assert_close(b["forces"].float(), a["forces"], rtol=1e-4, atol=1e-5)  # the same weights


@pytest.mark.parametrize("name", ["gvp", "nequip", "mlp"])
def test_float16_stored_weights_halve_the_file_and_load_rounded(tmp_path, aspirin, name):
    """Shipped files store parameters in float16: loaded, the model has exactly the rounded
    weights in its own dtype, its float64 energy shift intact, and stays equivariant to 1e-12."""
    model = small_model(name, dtype=torch.float32, numbers=aspirin.numbers)
    model.set_energy_normalization(torch.linspace(-1000.123456789, -1, model.n_species), 0.7)
    full = save_checkpoint(model, tmp_path / "full.pt")
    half = save_checkpoint(model, tmp_path / "half.pt", weights=torch.float16)
    n_bytes = sum(p.numel() for p in model.parameters()) * 2
    assert full.stat().st_size - half.stat().st_size >= 0.9 * n_bytes
    loaded = load_checkpoint(half).model
    assert next(loaded.parameters()).dtype == torch.float32
    for (k, a), b in zip(model.named_parameters(), loaded.parameters()):
        assert torch.equal(b, a.half().float()), k
    assert torch.equal(loaded.energy_shift, model.energy_shift) and loaded.energy_shift.dtype == torch.float64
    if name != "mlp":
        rep = equivariance_report(load_checkpoint(half, dtype=torch.float64).model, aspirin, trials=2, seed=1)
        assert rep["forces"]["rotation"] < 1e-12, rep["forces"]


def test_checkpoint_version_and_garbage(tmp_path, ethanol):
    model = small_model("gvp")
    path = save_checkpoint(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = CHECKPOINT_FORMAT_VERSION + 1
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format version"):
        load_checkpoint(tmp_path / "future.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an equiv checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


# -- CLI ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_equivariance_cli_json(capsys):
    from equiv.cli import main

    def cli(model):  # in this process: the entry point itself is tested in test_cli
        code = main(["equivariance", "--model", model, "--molecule", "aspirin", "--dtype", "float64", "--trials", "2",
                     "--reflections", "--json"])
        out = capsys.readouterr()
        assert code == 0, out.err
        return json.loads(out.out)

    for model in ("nequip", "gvp"):
        rep = cli(model)
        assert rep["dtype"] == "float64"
        for out in ("energy", "forces", "atom_vectors"):
            assert set(rep[out]) == {"rotation", "translation", "permutation", "reflection"}
            assert max(rep[out].values()) < 1e-10, (model, out, rep[out])
    rep = cli("mlp")
    assert rep["forces"]["rotation"] > 1e-2 and rep["atom_vectors"]["rotation"] > 1e-2


@pytest.mark.parametrize("overrides", [{"l_max": 0}, {"l_max": 1}, {"l_max": 2}, pytest.param({"l_max": 3, "n_layers": 3}, marks=pytest.mark.slow),
                                       {"l_max": 2, "parity": False}])
def test_fast_nequip_equals_e3nn_reference(aspirin, overrides):
    # The fast evaluation must compute exactly what the plain e3nn modules compute, same weights.
    fast = small_model("nequip", numbers=aspirin.numbers, **overrides)
    reference = small_model("nequip", numbers=aspirin.numbers, **overrides)
    reference.channel_major = False  # e3nn's own per-path evaluation
    reference.load_state_dict(fast.state_dict())
    assert fast.channel_major and "fast" not in fast.config.to_dict()
    a, b = run(fast, [aspirin]), run(reference, [aspirin])
    for k in ("energy", "forces", "atom_vectors"):
        assert (a[k] - b[k]).abs().max() <= 1e-12 * max(1.0, b[k].abs().max().item()), k
    for ir in b["features"]:
        assert (a["features"][ir] - b["features"][ir]).abs().max() < 1e-12, ir


def test_layout_is_chosen_at_load_not_saved(tmp_path, ethanol):
    # Checkpoints written before the layout was chosen at build time carry "fast": they still load,
    # in the channel-major layout, and compute what they computed.
    model = small_model("nequip", numbers=ethanol.numbers)
    path = save_checkpoint(model, tmp_path / "new.pt")
    payload = torch.load(path, weights_only=True)
    assert "fast" not in payload["config"]
    payload["config"]["fast"] = False
    torch.save(payload, tmp_path / "old.pt")
    old = load_checkpoint(tmp_path / "old.pt").model
    assert old.channel_major and "fast" not in old.config.to_dict()
    assert torch.equal(run(old, [ethanol])["forces"], run(model, [ethanol])["forces"])


def test_unknown_e3nn_falls_back_to_its_own_evaluation(monkeypatch, ethanol):
    import e3nn

    from equiv.models.channel_major import ChannelLayout

    reference = small_model("nequip", numbers=ethanol.numbers)
    monkeypatch.setattr(e3nn, "__version__", "0.7.0")
    model = small_model("nequip", numbers=ethanol.numbers)
    assert reference.channel_major and not model.channel_major
    assert all(layer.channel_major is None for layer in model.layers)
    assert (run(model, [ethanol])["forces"] - run(reference, [ethanol])["forces"]).abs().max() < 1e-12
    with pytest.raises(RuntimeError, match="e3nn 0.6.x internals; e3nn 0.7.0 is installed"):
        ChannelLayout("4x0e", 4)


def test_activation_moments_are_e3nns_own_numbers_drawn_once():
    """The gate constants are bit-identical to e3nn's for every activation NequIP uses, in float32
    and float64, and a second NequIP build draws no new samples."""
    from equiv.models import activation_moments as am

    for f in (torch.nn.functional.silu, torch.tanh, torch.sigmoid, torch.abs):
        for dtype in (torch.float32, torch.float64):
            assert torch.equal(am.moment(f, 2, dtype=dtype), am.e3nn_moment(f, 2, dtype=dtype)), (f, dtype)
    from e3nn.math import _normalize_activation

    assert _normalize_activation.moment is am.moment  # installed by equiv.models.nequip
    am._samples.clear()
    small_model("nequip", l_max=2)
    drawn = dict(am._samples)
    assert drawn  # the build went through it
    small_model("nequip", l_max=2)
    assert am._samples == drawn and all(v is drawn[k] for k, v in am._samples.items())
