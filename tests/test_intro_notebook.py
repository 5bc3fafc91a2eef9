"""The code that Intro_GAN.ipynb writes out is the same computation as scripts/gan_train_script.py.

The test runs the notebook's own cells tagged "reference-code" (setup, data, networks, training loop) in
short mode on the tiny test dataset, then trains the script with the same settings, and requires every
per-step loss and every final weight to be identical.
"""

import os
import warnings
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest
import torch
from gan_train_script import TrainConfig, read_checkpoint, train

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "Intro_GAN.ipynb"


def reference_cells(path):
    notebook = nbformat.read(path, as_version=4)
    return [cell.source for cell in notebook.cells
            if cell.cell_type == "code" and "reference-code" in cell.metadata.get("tags", [])]


@pytest.fixture
def notebook_namespace(tiny_data_dir, monkeypatch):
    """Run the notebook's reference cells in short mode on the tiny dataset and return their variables."""
    monkeypatch.setenv("GAN_VIGNETTE_SHORT", "1")
    monkeypatch.setenv("GAN_DATA_DIR", str(tiny_data_dir))
    monkeypatch.chdir(NOTEBOOK.parent)
    matplotlib.use("Agg")
    namespace = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*non-interactive.*")
        for source in reference_cells(NOTEBOOK):
            exec(compile(source, str(NOTEBOOK), "exec"), namespace)
    return namespace


def test_notebook_has_reference_cells():
    sources = reference_cells(NOTEBOOK)

    assert any("class Generator" in source for source in sources)
    assert any("def training_step" in source for source in sources)
    assert any("for epoch in range" in source for source in sources)


def test_notebook_training_matches_script(notebook_namespace, tmp_path):
    namespace = notebook_namespace
    if namespace["device"].type != "cpu":
        pytest.skip("exact equality is promised on the CPU only")
    config = TrainConfig(epochs=namespace["EPOCHS"], subset=namespace["SUBSET"], seed=namespace["SEED"],
                         batch_size=namespace["BATCH_SIZE"], z_dim=namespace["Z_DIM"], lr=namespace["LR"],
                         beta1=namespace["BETAS"][0], beta2=namespace["BETAS"][1])

    state = train(config, os.environ["GAN_DATA_DIR"], tmp_path, device="cpu", progress=lambda line: None)

    script_history = np.column_stack([state.history[name] for name in state.history])
    notebook_history = namespace["history"]
    assert notebook_history.shape == script_history.shape
    assert np.array_equal(notebook_history.astype(np.float64), script_history)

    checkpoint = read_checkpoint(tmp_path / "checkpoint.pt")
    for network in ("generator", "discriminator"):
        notebook_weights = namespace[network].state_dict()
        for name, tensor in checkpoint[network].items():
            assert torch.equal(notebook_weights[name].cpu(), tensor), f"{network}.{name}"
