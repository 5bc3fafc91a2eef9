"""Prepare the notebooks' test run: short mode, and a data folder that works without the network.

Before any notebook runs, $GAN_DATA_DIR points at the real data in ../shared/data when that folder
contains it, and otherwise at a tiny synthetic IDX dataset written here. The choice is printed in pytest's
header. A $GAN_DATA_DIR or $GAN_VIGNETTE_SHORT set before the run is left as it is.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))

from tiny_idx import contains_real_data, write_tiny_dataset  # noqa: E402

SHARED_DATA_DIR = Path(__file__).resolve().parent.parent / "shared" / "data"
_written_data_dirs: list[Path] = []  # folders of tiny data written here, removed when pytest ends


def _prepare_notebook_environment() -> str:
    """Select the notebooks' short mode and give them a data folder; return a line for the report header."""
    os.environ.setdefault("GAN_VIGNETTE_SHORT", "1")
    if os.environ.get("GAN_DATA_DIR"):
        data_dir = os.environ["GAN_DATA_DIR"]
        real = "contains the real data" if contains_real_data(Path(data_dir)) else "does not contain the real data"
        return f"notebook data: $GAN_DATA_DIR={data_dir} (set before the tests; it {real})"
    if contains_real_data(SHARED_DATA_DIR):
        os.environ["GAN_DATA_DIR"] = str(SHARED_DATA_DIR)
        return f"notebook data: real MNIST and Fashion-MNIST in {SHARED_DATA_DIR}"
    tiny_root = Path(tempfile.mkdtemp(prefix="gan-vignette-tiny-data-"))
    _written_data_dirs.append(tiny_root)
    write_tiny_dataset(tiny_root, "MNIST", train_count=2000, test_count=500)
    write_tiny_dataset(tiny_root, "FashionMNIST", train_count=2000, test_count=500)
    os.environ["GAN_DATA_DIR"] = str(tiny_root)
    return (f"notebook data: no real data found at {SHARED_DATA_DIR}; the notebooks run on tiny synthetic "
            f"IDX files written to {tiny_root}, and the real-data tests are skipped")


NOTEBOOK_DATA_NOTE = _prepare_notebook_environment()


def pytest_report_header(config):
    return [NOTEBOOK_DATA_NOTE]


def pytest_unconfigure(config):
    for folder in _written_data_dirs:
        shutil.rmtree(folder, ignore_errors=True)


