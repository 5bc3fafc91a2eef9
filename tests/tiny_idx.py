"""Tiny MNIST-like IDX datasets that the tests write themselves, in torchvision's layout."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
REAL_TRAINING_IMAGES = 60_000  # in the training split of MNIST and of Fashion-MNIST


def contains_real_data(root: Path) -> bool:
    """Return whether root/MNIST/raw and root/FashionMNIST/raw contain all four IDX files of the real datasets.

    The training-image count in the IDX header distinguishes the real files from the tiny ones the tests write.
    """
    for folder in ("MNIST", "FashionMNIST"):
        raw = root / folder / "raw"
        if not all((raw / name).is_file() for name in IDX_NAMES):
            return False
        with open(raw / IDX_NAMES[0], "rb") as file:
            header = file.read(8)  # magic number, then the image count as a big-endian 32-bit integer
        if len(header) < 8 or int.from_bytes(header[4:8], "big") != REAL_TRAINING_IMAGES:
            return False
    return True


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as an IDX file: two zero bytes, type 0x08, ndim, big-endian sizes, data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def make_tiny_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Make ``count`` 28x28 images of bright horizontal bars whose row encodes the label 0..9."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 10
    images = rng.integers(0, 40, size=(count, 28, 28), dtype=np.uint8)
    for index, label in enumerate(labels):
        top = 2 + 2 * int(label)
        images[index, top : top + 3, 4:24] = 255
    return images, labels.astype(np.uint8)


def write_tiny_dataset(root: Path, folder: str, train_count: int = 320, test_count: int = 80,
                       gzip_files: bool = False) -> Path:
    """Write the four IDX files of a tiny dataset into root/folder/raw (torchvision's layout)."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = make_tiny_images(train_count, seed=1)
    test_images, test_labels = make_tiny_images(test_count, seed=2)
    arrays = (train_images, train_labels, test_images, test_labels)
    for name, array in zip(IDX_NAMES, arrays):
        data = idx_bytes(array)
        if gzip_files:
            (raw / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (raw / name).write_bytes(data)
    return raw
