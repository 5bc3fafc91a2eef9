"""Evaluate a trained generator offline: class coverage, classifier Fréchet distance, Parzen window
log-likelihood and a memorization check.

Every metric is computed on the CPU from the dataset's own files. Class coverage and the Fréchet
distance need a classifier, and the project trains its own small CNN for that (seeded, about 35 s on
a 2-core CPU, see docs/evaluation.md) and caches it with its test accuracy, so nothing pretrained is
ever downloaded.

Examples:
    gan-evaluate runs/mnist-60ep/checkpoint.pt
    gan-evaluate --images samples.pt --dataset fashion-mnist --out-dir runs/other-model
    gan-evaluate --baseline training-images --out-dir runs/baseline-training-images
    python scripts/gan_evaluation.py --help

From Python (the notebooks):
    from gan_evaluation import evaluate_generator
    result = evaluate_generator(generator, dataset="mnist")
    print(result.format_table())
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from gan_data import (
    DATA_DIR_ENV,
    DATASETS,
    PRETTY_NAMES,
    CorruptDataError,
    DataNotFoundError,
    ImageSet,
    load_images,
    repository_root,
    to_training_tensor,
)
from gan_models import IMAGE_SHAPE, Generator, sample_images
from gan_outputs import atomic_write, images_to_uint8, save_figure, write_json
from gan_train_script import (
    CheckpointError,
    TrainConfig,
    check_writable_folder,
    integer_at_least,
    library_versions,
    read_checkpoint,
)
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn

log = logging.getLogger("gan_vignette")

NUM_CLASSES = 10
DEFAULT_NUM_SAMPLES = 10_000

CACHE_DIR_ENV = "GAN_CACHE_DIR"
CLASSIFIER_FORMAT = 1  # increase when ReferenceClassifier's layers change, so that older cache files are retrained
CLASSIFIER_FILE_KEYS = ("format", "dataset", "test_accuracy", "training", "data_fingerprint", "state_dict")

# Class coverage: a class counts as covered when it receives at least this fraction of the samples.
COVERAGE_MIN_FRACTION = 0.01
# KL(generated || test): a reference class with frequency 0 is given this probability instead, so that
# the divergence stays finite. It only matters for a test split that lacks a class (tiny test data).
KL_EPSILON = 1e-10

# Parzen window protocol of Goodfellow et al. (2014), "Generative Adversarial Nets", Table 1, as in
# their parzen_ll.py (github.com/goodfeli/adversarial): sigma from numpy.logspace(-1, 0, 10), chosen
# on the first 1,000 of the last 10,000 training images, pixels scaled to [0, 1].
PARZEN_SIGMAS = tuple(float(sigma) for sigma in np.logspace(-1, 0, 10))
PARZEN_VALIDATION_HOLDOUT = 10_000  # parzen_ll.py reads them as MNIST('train', start=50000, stop=60000)
PARZEN_VALIDATION_SIZE = 1_000
PARZEN_CHUNK_ROWS = 500  # test images per block of the distance matrix (500 x 10,000 float64 = 40 MB)

# Nearest-neighbour search: query images per block (500 x 60,000 float32 = 120 MB).
NEIGHBOR_CHUNK_ROWS = 500
DEFAULT_MEMORIZATION_SAMPLES = 2_000
# A generated image is counted as "closer than a test image would be" when its distance to the
# nearest training image is below this percentile of the test images' distances.
MEMORIZATION_TEST_PERCENTILE = 1.0

BASELINES = ("training-images", "uniform-noise")
EVALUATION_JSON = "evaluation.json"
MEMORIZATION_FIGURE = "memorization.png"


class ClassifierCacheError(RuntimeError):
    """A cached classifier file is missing, unreadable or was made for other data or settings."""


# ----------------------------------------------------------------------------------------------------
# Reference classifier
# ----------------------------------------------------------------------------------------------------

class ReferenceClassifier(nn.Module):
    """Small CNN whose penultimate layer supplies the features of the Fréchet distance.

    Input: images (B, 1, 28, 28) in [-1, 1], the generator's range. ``features`` returns the
    FEATURE_DIM activations before the last linear layer, ``forward`` the 10 class logits.
    The narrow first layer (16 channels) keeps training on a CPU short, because most of the time
    goes into the 28 x 28 feature maps of that layer.
    """

    FEATURE_DIM = 128

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),  # -> (B, 16, 28, 28)
            nn.MaxPool2d(2),  # -> (B, 16, 14, 14)
            nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),  # -> (B, 32, 14, 14)
            nn.MaxPool2d(2),  # -> (B, 32, 7, 7)
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, self.FEATURE_DIM), nn.ReLU(),
        )
        self.head = nn.Linear(self.FEATURE_DIM, NUM_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@dataclass(frozen=True)
class ClassifierSettings:
    """Training settings of the reference classifier; a cached file is reused only when they match."""

    epochs: int = 3
    batch_size: int = 128
    max_lr: float = 3e-3  # peak learning rate of Adam under the one-cycle schedule
    seed: int = 0

    def as_dict(self) -> dict:
        return {"epochs": self.epochs, "batch_size": self.batch_size, "max_lr": self.max_lr, "seed": self.seed}


@dataclass
class TrainedClassifier:
    """A reference classifier with its test accuracy and where it came from."""

    model: ReferenceClassifier
    dataset: str
    test_accuracy: float
    path: Path | None  # the cache file, or None when it could not be written
    from_cache: bool
    train_seconds: float  # time the training took when it ran (also stored in the cache file)

    def describe(self) -> dict:
        return {"dataset": self.dataset, "test_accuracy": self.test_accuracy,
                "path": str(self.path) if self.path else None, "from_cache": self.from_cache,
                "train_seconds": round(self.train_seconds, 1)}


def default_cache_dir() -> Path:
    """Return cache/ in the checkout, or ~/.cache/gan-vignette when the package is installed elsewhere."""
    root = repository_root()
    if root is not None:
        return root / "cache"
    return Path.home() / ".cache" / "gan-vignette"


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Pick the cache folder: the explicit argument, else $GAN_CACHE_DIR, else the default."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    from_env = os.environ.get(CACHE_DIR_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return default_cache_dir()


def classifier_path(dataset: str, fingerprint: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """Return the cache file of a reference classifier: <cache>/classifiers/<dataset>-<fingerprint>-cnn.pt.

    ``fingerprint`` is data_fingerprint() of the training files. It is part of the name because one
    checkout meets several copies of a dataset (the real files, the offline fallback, the tests' tiny
    files), and each copy's classifier must survive a run on another.
    """
    return resolve_cache_dir(cache_dir) / "classifiers" / f"{dataset}-{fingerprint}-cnn.pt"


def data_fingerprint(images: torch.Tensor, labels: torch.Tensor) -> str:
    """Return a short SHA-256 of the training images and labels, so that a cache file made from other
    files of the same dataset (a subset, the tiny test data) is not reused."""
    digest = hashlib.sha256()
    digest.update(images.contiguous().numpy().tobytes())
    digest.update(labels.to(torch.int64).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def train_classifier(images: torch.Tensor, labels: torch.Tensor, settings: ClassifierSettings = ClassifierSettings(),
                     progress: Callable[[str], None] | None = None) -> ReferenceClassifier:
    """Train a ReferenceClassifier on float images (N, 1, 28, 28) in [-1, 1] with int64 labels.

    Adam with a one-cycle learning-rate schedule, seeded: on the CPU two runs with the same settings,
    data and thread count give identical weights. torch's global RNG state is restored afterwards.
    """
    steps_per_epoch = len(images) // settings.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"The classifier needs at least {settings.batch_size} training images, got {len(images)}.")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = ReferenceClassifier()
        order_rng = torch.Generator().manual_seed(settings.seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.max_lr)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.max_lr,
                                                       total_steps=settings.epochs * steps_per_epoch)
        loss_function = nn.CrossEntropyLoss()
        model.train()
        for epoch in range(1, settings.epochs + 1):
            started = time.perf_counter()
            permutation = torch.randperm(len(images), generator=order_rng)
            # The incomplete last batch is dropped, so every step uses batch_size images.
            for step in range(steps_per_epoch):
                indices = permutation[step * settings.batch_size : (step + 1) * settings.batch_size]
                loss = loss_function(model(images[indices]), labels[indices])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
            if progress is not None:
                progress(f"classifier epoch {epoch}/{settings.epochs}: last loss {loss.item():.4f}, "
                         f"{time.perf_counter() - started:.1f} s")
    model.eval()
    return model


@torch.no_grad()
def classifier_accuracy(model: ReferenceClassifier, images: torch.Tensor, labels: torch.Tensor,
                        batch_size: int = 1000) -> float:
    """Return the fraction of ``images`` whose predicted class equals the label."""
    model.eval()
    predictions = torch.cat([model(batch).argmax(dim=1) for batch in images.split(batch_size)])
    return float((predictions == labels).double().mean())


def read_cached_classifier(path: Path, dataset: str, fingerprint: str | None = None,
                           settings: ClassifierSettings | None = None) -> tuple[ReferenceClassifier, dict]:
    """Load a cached classifier (torch.load with weights_only=True) and return it with the file's contents.

    Raises ClassifierCacheError naming the reason when the file is missing or unreadable, lacks a key,
    has another format version, or was made for another dataset, other training files (``fingerprint``)
    or other ``settings``. Pass None to skip the fingerprint or settings check.
    """
    if not path.is_file():
        raise ClassifierCacheError(f"no cached classifier at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise ClassifierCacheError(f"{path} could not be read ({type(error).__name__}: {first_line})") from error

    if not isinstance(payload, dict) or not set(CLASSIFIER_FILE_KEYS) <= set(payload):
        raise ClassifierCacheError(f"{path} is not a classifier file of this project "
                                   f"(it lacks some of the keys {', '.join(CLASSIFIER_FILE_KEYS)})")
    if payload["format"] != CLASSIFIER_FORMAT:
        raise ClassifierCacheError(f"{path} has format version {payload['format']!r}, expected {CLASSIFIER_FORMAT}")
    if payload["dataset"] != dataset:
        raise ClassifierCacheError(f"{path} was trained on {payload['dataset']!r}, not on {dataset!r}")
    if fingerprint is not None and payload["data_fingerprint"] != fingerprint:
        raise ClassifierCacheError(f"{path} was trained on other {dataset} files "
                                   f"(data fingerprint {payload['data_fingerprint']}, these files {fingerprint})")
    if settings is not None and payload["training"] != settings.as_dict():
        raise ClassifierCacheError(f"{path} was trained with the settings {payload['training']}, "
                                   f"not {settings.as_dict()}")

    model = ReferenceClassifier()
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        message = f"{path} contains weights that do not match the classifier ({first_line})"
        raise ClassifierCacheError(message) from error
    model.eval()
    return model, payload


def write_cached_classifier(path: Path, classifier: TrainedClassifier, fingerprint: str,
                            settings: ClassifierSettings) -> None:
    """Write the classifier and its test accuracy to ``path`` atomically."""
    payload = {
        "format": CLASSIFIER_FORMAT,
        "dataset": classifier.dataset,
        "test_accuracy": classifier.test_accuracy,
        "training": settings.as_dict(),
        "data_fingerprint": fingerprint,
        "train_seconds": classifier.train_seconds,
        "torch_version": str(torch.__version__),  # TorchVersion would not load with weights_only=True
        "state_dict": classifier.model.state_dict(),
    }
    atomic_write(path, lambda temporary: torch.save(payload, temporary))


def load_or_train_classifier(dataset: str, train_set: ImageSet, test_set: ImageSet,
                             cache_dir: str | os.PathLike | None = None, retrain: bool = False,
                             settings: ClassifierSettings = ClassifierSettings(),
                             progress: Callable[[str], None] | None = None) -> TrainedClassifier:
    """Return the cached reference classifier of ``dataset``, or train one, measure it and cache it.

    A cache file that is missing, corrupt, or made for another dataset, other files or other settings
    is not used: the reason is logged and a new classifier replaces it. When the cache folder cannot be
    written, the classifier is still returned (with path None) and a warning is logged.
    """
    fingerprint = data_fingerprint(train_set.images, train_set.labels)
    path = classifier_path(dataset, fingerprint, cache_dir)
    if not retrain:
        try:
            model, payload = read_cached_classifier(path, dataset, fingerprint, settings)
        except ClassifierCacheError as error:
            if path.exists():
                log.warning("Training a new %s classifier because the cached one cannot be used: %s.",
                            PRETTY_NAMES[dataset], error)
            else:
                log.info("No cached %s classifier at %s; training one.", PRETTY_NAMES[dataset], path)
        else:
            return TrainedClassifier(model, dataset, float(payload["test_accuracy"]), path, True,
                                     float(payload.get("train_seconds", math.nan)))

    started = time.perf_counter()
    model = train_classifier(to_training_tensor(train_set.images), train_set.labels, settings, progress)
    train_seconds = time.perf_counter() - started
    accuracy = classifier_accuracy(model, to_training_tensor(test_set.images), test_set.labels)
    log.info("Trained the %s classifier in %.1f s: test accuracy %.2f%% on %d images.",
             PRETTY_NAMES[dataset], train_seconds, 100 * accuracy, len(test_set.images))

    classifier = TrainedClassifier(model, dataset, accuracy, path, False, train_seconds)
    try:
        write_cached_classifier(path, classifier, fingerprint, settings)
    except OSError as error:
        log.warning("Could not cache the classifier at %s (%s); it will be trained again next time. "
                    "Set $%s or pass a cache folder you can write to.", path, error, CACHE_DIR_ENV)
        classifier.path = None
    return classifier


@dataclass
class ClassifierOutputs:
    """Penultimate-layer features and class probabilities of a set of images, in float64."""

    features: np.ndarray  # (N, FEATURE_DIM)
    probabilities: np.ndarray  # (N, NUM_CLASSES), softmax of the logits


@torch.no_grad()
def classify(model: ReferenceClassifier, images: torch.Tensor, batch_size: int = 1000) -> ClassifierOutputs:
    """Run the classifier in eval mode on images (N, 1, 28, 28) in [-1, 1]."""
    model.eval()
    features, probabilities = [], []
    for batch in images.split(batch_size):
        batch_features = model.features(batch.float())
        features.append(batch_features.double())
        probabilities.append(torch.softmax(model.head(batch_features).double(), dim=1))
    return ClassifierOutputs(torch.cat(features).numpy(), torch.cat(probabilities).numpy())


# ----------------------------------------------------------------------------------------------------
# Class coverage
# ----------------------------------------------------------------------------------------------------

def kl_divergence(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray,
                  epsilon: float = KL_EPSILON) -> float:
    """Return KL(p || q) = sum_k p_k log(p_k / q_k) in nats, after normalising both to sum 1.

    Classes with p_k = 0 contribute 0 (the limit of p log p). A class with q_k = 0 would make the
    divergence infinite, so q_k is raised to ``epsilon`` there (q is not renormalised afterwards).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"p and q must be 1-D and of equal length, got shapes {p.shape} and {q.shape}.")
    if (p < 0).any() or (q < 0).any() or p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("p and q must be non-negative with a positive sum.")
    p = p / p.sum()
    q = np.maximum(q / q.sum(), epsilon)
    present = p > 0
    return float(np.sum(p[present] * np.log(p[present] / q[present])))


@dataclass
class ClassCoverage:
    """Distribution of the samples over the classes that the classifier predicts."""

    counts: list[int]  # samples per predicted class
    classes_covered: int  # classes with at least min_fraction of the samples
    kl_divergence: float  # KL(predicted class frequencies || test class frequencies), nats
    mean_top_probability: float  # mean over samples of the largest class probability
    min_fraction: float = COVERAGE_MIN_FRACTION


def class_coverage(probabilities: np.ndarray, reference_frequencies: Sequence[float] | np.ndarray,
                   min_fraction: float = COVERAGE_MIN_FRACTION, epsilon: float = KL_EPSILON) -> ClassCoverage:
    """Measure class coverage from class probabilities (N, NUM_CLASSES), each sample counted for its argmax."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities.argmax(axis=1)
    counts = np.bincount(predicted, minlength=probabilities.shape[1])
    fractions = counts / counts.sum()
    return ClassCoverage(
        counts=[int(count) for count in counts],
        classes_covered=int((fractions >= min_fraction).sum()),
        kl_divergence=kl_divergence(fractions, reference_frequencies, epsilon),
        mean_top_probability=float(probabilities.max(axis=1).mean()),
        min_fraction=min_fraction,
    )


# ----------------------------------------------------------------------------------------------------
# Fréchet distance
# ----------------------------------------------------------------------------------------------------

def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the mean and covariance (ddof=1) of features (N, D) in float64; N must be at least 2."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"Expected features of shape (N, D) with N >= 2, got {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Return the symmetric positive semi-definite square root of a symmetric matrix.

    Uses the eigendecomposition M = V diag(w) V^T, so the result is real. Eigenvalues below 0, which
    only rounding produces for a covariance matrix, are set to 0.
    """
    symmetric = (matrix + matrix.T) / 2
    eigenvalues, eigenvectors = np.linalg.eigh(symmetric)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mean1: np.ndarray, cov1: np.ndarray, mean2: np.ndarray, cov2: np.ndarray) -> float:
    """Return the Fréchet distance between N(mean1, cov1) and N(mean2, cov2), in float64:

        |mean1 - mean2|^2 + tr(cov1) + tr(cov2) - 2 tr((cov1^1/2 cov2 cov1^1/2)^1/2)

    The last term equals tr((cov1 cov2)^1/2), the form usually written, but its argument is symmetric,
    so both roots come from eigh and no complex values appear. The result is clipped at 0,
    because rounding can make the distance of two equal Gaussians slightly negative.
    """
    mean1, mean2 = np.asarray(mean1, np.float64), np.asarray(mean2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    root1 = symmetric_sqrt(cov1)
    middle = root1 @ cov2 @ root1
    middle_eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_of_root = np.sqrt(np.clip(middle_eigenvalues, 0.0, None)).sum()
    difference = mean1 - mean2
    distance = difference @ difference + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_of_root
    return float(max(distance, 0.0))


def frechet_distance_of_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """Return the Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D)."""
    return frechet_distance(*gaussian_statistics(features1), *gaussian_statistics(features2))


# ----------------------------------------------------------------------------------------------------
# Parzen window log-likelihood
# ----------------------------------------------------------------------------------------------------

def to_unit_pixels(images: torch.Tensor) -> torch.Tensor:
    """Flatten images (N, 1, 28, 28) in [-1, 1] to (N, 784) float32 with pixel values in [0, 1]."""
    return images.reshape(len(images), -1).float().add(1.0).div(2.0)


def parzen_log_likelihoods(samples: torch.Tensor, data: torch.Tensor, sigmas: Sequence[float],
                           chunk_rows: int = PARZEN_CHUNK_ROWS) -> np.ndarray:
    """Return log p(x) for each row x of ``data`` under a Parzen window estimate fitted to ``samples``.

    p(x) = 1/N sum_i N(x; s_i, sigma^2 I), for each sigma in ``sigmas``; the result has shape
    (len(sigmas), len(data)) and is in nats. Both inputs are (N, D) and (M, D) tensors.

    The squared distances |x|^2 + |s|^2 - 2 x.s come from a float32 matrix product (an absolute error of
    about 1e-4 for 784 pixels in [0, 1]); the exponents and the log-sum-exp over the samples are float64.
    The data is processed ``chunk_rows`` rows at a time to bound the memory.
    """
    samples = samples.float()
    data = data.float()
    count, dimensions = samples.shape
    sample_norms = samples.double().pow(2).sum(dim=1)
    sigmas = [float(sigma) for sigma in sigmas]
    result = np.empty((len(sigmas), len(data)), dtype=np.float64)
    for start in range(0, len(data), chunk_rows):
        block = data[start : start + chunk_rows]
        products = (block @ samples.T).double()
        squared = (block.double().pow(2).sum(dim=1, keepdim=True) + sample_norms - 2.0 * products).clamp_(min=0.0)
        for row, sigma in enumerate(sigmas):
            log_kernel_sum = torch.logsumexp(squared * (-0.5 / sigma**2), dim=1)
            normaliser = math.log(count) + dimensions * math.log(sigma * math.sqrt(2.0 * math.pi))
            result[row, start : start + len(block)] = (log_kernel_sum - normaliser).numpy()
    return result


@dataclass
class ParzenResult:
    """Parzen window log-likelihood of the test images, with the sigma chosen on validation images."""

    mean: float  # mean log-likelihood of the test images, nats
    standard_error: float  # std / sqrt(number of test images)
    sigma: float
    validation_means: dict[str, float]  # mean validation log-likelihood per candidate sigma
    num_samples: int
    num_validation: int
    num_test: int


def parzen_evaluation(samples: torch.Tensor, validation: torch.Tensor, test: torch.Tensor,
                      sigmas: Sequence[float] = PARZEN_SIGMAS) -> ParzenResult:
    """Choose sigma by the mean log-likelihood of ``validation``, then score ``test`` with it.

    All three are (N, 784) tensors with pixels in [0, 1]. The standard error is the population
    standard deviation (numpy's default) divided by sqrt(len(test)), as in Goodfellow et al.'s code.
    """
    validation_means = parzen_log_likelihoods(samples, validation, sigmas).mean(axis=1)
    best = int(np.argmax(validation_means))
    sigma = float(sigmas[best])
    test_values = parzen_log_likelihoods(samples, test, [sigma])[0]
    return ParzenResult(
        mean=float(test_values.mean()),
        standard_error=float(test_values.std() / math.sqrt(len(test_values))),
        sigma=sigma,
        validation_means={f"{s:.4g}": float(m) for s, m in zip(sigmas, validation_means)},
        num_samples=len(samples),
        num_validation=len(validation),
        num_test=len(test),
    )


# ----------------------------------------------------------------------------------------------------
# Memorization
# ----------------------------------------------------------------------------------------------------

def nearest_neighbors(queries: torch.Tensor, references: torch.Tensor,
                      chunk_rows: int = NEIGHBOR_CHUNK_ROWS) -> tuple[np.ndarray, np.ndarray]:
    """Find each query's nearest reference row by L2 distance; return (distances, reference indices).

    Both inputs are (N, D) and (M, D). The search ranks |r|^2 - 2 q.r from a float32 matrix product,
    and the distance to the chosen neighbour is then recomputed exactly in float64, so an exact copy
    has distance 0.
    """
    # NOTE: two references whose distances differ by less than float32 rounding may be ranked wrongly.
    # The distance reported is exact for the reference that was picked.
    queries = queries.float()
    references = references.float()
    reference_norms = references.pow(2).sum(dim=1)
    indices = torch.empty(len(queries), dtype=torch.int64)
    for start in range(0, len(queries), chunk_rows):
        block = queries[start : start + chunk_rows]
        scores = reference_norms - 2.0 * (block @ references.T)
        indices[start : start + len(block)] = scores.argmin(dim=1)
    distances = (queries.double() - references[indices].double()).pow(2).sum(dim=1).sqrt()
    return distances.numpy(), indices.numpy()


@dataclass
class Memorization:
    """Distances (L2, pixels in [0, 1]) from samples and from test images to their nearest training image."""

    sample_distances: np.ndarray  # one per compared sample (the first ones given)
    sample_nearest: np.ndarray  # index into the training images
    test_distances: np.ndarray
    test_nearest: np.ndarray
    percentile: float = MEMORIZATION_TEST_PERCENTILE

    @property
    def test_threshold(self) -> float:
        """The ``percentile``-th percentile of the test images' distances."""
        return float(np.percentile(self.test_distances, self.percentile))

    @property
    def fraction_below_threshold(self) -> float:
        """Fraction of samples closer to the training set than test_threshold.

        About percentile / 100 for samples drawn like the test images, and near 1 for copies.
        """
        return float((self.sample_distances < self.test_threshold).mean())

    def summary(self) -> dict:
        return {
            "num_samples": int(len(self.sample_distances)),
            "num_test": int(len(self.test_distances)),
            "sample_median": float(np.median(self.sample_distances)),
            "sample_min": float(self.sample_distances.min()),
            "test_median": float(np.median(self.test_distances)),
            "test_min": float(self.test_distances.min()),
            "test_percentile": self.percentile,
            "test_threshold": self.test_threshold,
            "fraction_below_threshold": self.fraction_below_threshold,
        }


def memorization_distances(samples: torch.Tensor, train_images: torch.Tensor,
                           test_images: torch.Tensor) -> Memorization:
    """Measure how close samples and test images (all (N, 1, 28, 28) in [-1, 1]) come to the training images.

    Distances are L2 norms in pixel space with pixels scaled to [0, 1], so they lie in [0, 28].
    """
    train_pixels = to_unit_pixels(train_images)
    sample_distances, sample_nearest = nearest_neighbors(to_unit_pixels(samples), train_pixels)
    test_distances, test_nearest = nearest_neighbors(to_unit_pixels(test_images), train_pixels)
    return Memorization(sample_distances, sample_nearest, test_distances, test_nearest)


def plot_closest_pairs(samples: torch.Tensor, train_images: torch.Tensor, memorization: Memorization,
                       count: int = 8) -> Figure:
    """Draw the ``count`` samples closest to a training image above that image, and the distance histograms.

    ``samples`` and ``train_images`` are the (N, 1, 28, 28) tensors in [-1, 1] that ``memorization``
    was computed from. The figure uses the Agg canvas, not pyplot.
    """
    count = min(count, len(memorization.sample_distances))
    order = np.argsort(memorization.sample_distances, kind="stable")[:count]
    figure = Figure(figsize=(max(6.0, 1.3 * count), 6.0), layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(3, count, height_ratios=(1, 1, 1.6))

    for column, sample_index in enumerate(order):
        neighbor_index = int(memorization.sample_nearest[sample_index])
        pair = ((samples[sample_index], f"sample {sample_index}\nL2 {memorization.sample_distances[sample_index]:.2f}"),
                (train_images[neighbor_index], f"train {neighbor_index}"))
        for row, (image, title) in enumerate(pair):
            axes = figure.add_subplot(grid[row, column])
            axes.imshow(images_to_uint8(image)[0].numpy(), cmap="gray", vmin=0, vmax=255)
            axes.set_title(title, fontsize="small")
            axes.axis("off")

    histogram = figure.add_subplot(grid[2, :])
    upper = max(memorization.sample_distances.max(), memorization.test_distances.max(), 1e-6)
    bins = np.linspace(0.0, upper, 50)
    histogram.hist(memorization.test_distances, bins=bins, alpha=0.6, density=True, label="test images")
    histogram.hist(memorization.sample_distances, bins=bins, alpha=0.6, density=True, label="samples")
    histogram.axvline(memorization.test_threshold, color="black", linestyle="--", linewidth=0.8,
                      label=f"{memorization.percentile:g}% quantile of test images")
    histogram.set_xlabel("L2 distance to the nearest training image (pixels in [0, 1])")
    histogram.set_ylabel("density")
    histogram.legend(fontsize="small")
    figure.suptitle("Samples closest to the training set (top row) and their nearest training images (middle row)")
    return figure


# ----------------------------------------------------------------------------------------------------
# Reference data and the whole evaluation
# ----------------------------------------------------------------------------------------------------

@dataclass
class ReferenceData:
    """Real images, classifier and test-set statistics that every evaluation compares against.

    Prepare it once with prepare_reference() and pass it to evaluate_generator() for each model.
    """

    dataset: str
    train_images: torch.Tensor  # float (N, 1, 28, 28) in [-1, 1]
    test_images: torch.Tensor  # float (M, 1, 28, 28) in [-1, 1]
    test_labels: torch.Tensor
    classifier: TrainedClassifier
    test_class_frequencies: np.ndarray
    test_mean: np.ndarray  # Gaussian fitted to the classifier features of the test images
    test_covariance: np.ndarray
    validation_start: int  # Parzen validation images: train[validation_start : validation_start + 1000]
    data_source: str
    _test_neighbors: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)
    _frechet_references: dict[tuple[int, int], dict[str, float]] = field(default_factory=dict, repr=False)

    @property
    def parzen_validation(self) -> torch.Tensor:
        end = self.validation_start + PARZEN_VALIDATION_SIZE
        return to_unit_pixels(self.train_images[self.validation_start : end])

    def test_neighbors(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Return the nearest-training-image distances and indices of the first ``count`` test images."""
        count = min(count, len(self.test_images))
        if count not in self._test_neighbors:
            self._test_neighbors[count] = nearest_neighbors(to_unit_pixels(self.test_images[:count]),
                                                            to_unit_pixels(self.train_images))
        return self._test_neighbors[count]

    def frechet_references(self, num_samples: int, seed: int) -> dict[str, float]:
        """Return the Fréchet distance to the test images of ``num_samples`` training images (the floor)
        and of as many uniform-noise images, drawn by baseline_images(), which may return fewer
        training images."""
        key = (num_samples, seed)
        if key not in self._frechet_references:
            distances = {}
            for kind in BASELINES:
                features = self.features(baseline_images(self, kind, num_samples, seed))
                distances[kind] = frechet_distance(*gaussian_statistics(features), self.test_mean, self.test_covariance)
            self._frechet_references[key] = distances
        return self._frechet_references[key]

    def features(self, images: torch.Tensor) -> np.ndarray:
        return classify(self.classifier.model, images).features


def prepare_reference(dataset: str = "mnist", data_dir: str | os.PathLike | None = None,
                      cache_dir: str | os.PathLike | None = None, retrain_classifier: bool = False,
                      classifier_settings: ClassifierSettings = ClassifierSettings(),
                      progress: Callable[[str], None] | None = None) -> ReferenceData:
    """Load both splits of ``dataset``, get its reference classifier and fit the test-set statistics.

    Reads the data from ``data_dir`` (default as in gan_data.resolve_data_dir) and never writes there.
    The classifier comes from the cache (``cache_dir``, default $GAN_CACHE_DIR, else cache/ in the
    checkout) or is trained, which took about 35 s for the full MNIST training set on a 2-core CPU.
    Raises DataNotFoundError or CorruptDataError when a split is missing or damaged.
    """
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}.")
    train_set = load_images(dataset, data_dir, train=True)
    test_set = load_images(dataset, data_dir, train=False)
    classifier = load_or_train_classifier(dataset, train_set, test_set, cache_dir, retrain_classifier,
                                          classifier_settings, progress)

    train_images = to_training_tensor(train_set.images)
    test_images = to_training_tensor(test_set.images)
    test_features = classify(classifier.model, test_images).features
    test_mean, test_covariance = gaussian_statistics(test_features)
    label_counts = np.bincount(test_set.labels.numpy(), minlength=NUM_CLASSES).astype(np.float64)
    # Goodfellow et al. took the Parzen validation images from the last 10,000 MNIST training images.
    # A smaller training set (the offline MNIST copy, the tests' tiny data) holds out its last fifth, at
    # most PARZEN_VALIDATION_SIZE images, so that the validation images never serve as samples.
    if len(train_images) > PARZEN_VALIDATION_HOLDOUT + PARZEN_VALIDATION_SIZE:
        validation_start = len(train_images) - PARZEN_VALIDATION_HOLDOUT
    else:
        validation_start = len(train_images) - min(PARZEN_VALIDATION_SIZE, len(train_images) // 5)
    return ReferenceData(
        dataset=dataset,
        train_images=train_images,
        test_images=test_images,
        test_labels=test_set.labels,
        classifier=classifier,
        test_class_frequencies=label_counts / label_counts.sum(),
        test_mean=test_mean,
        test_covariance=test_covariance,
        validation_start=validation_start,
        data_source=f"training: {train_set.source}; test: {test_set.source}",
    )


def baseline_images(reference: ReferenceData, kind: str, num_samples: int, seed: int = 0) -> torch.Tensor:
    """Return ``num_samples`` images to score in place of a model's samples.

    "training-images": real training images drawn without replacement (seeded) from those before the
    Parzen validation images, so the validation images are never among them. When fewer than
    ``num_samples`` images come before them (3,200 in the offline MNIST copy), all of those are
    returned, with a warning.
    "uniform-noise": pixels drawn uniformly from [-1, 1].
    """
    rng = torch.Generator().manual_seed(seed)
    if kind == "training-images":
        pool = reference.validation_start or len(reference.train_images)
        if num_samples > pool:
            # Fewer images bias the Fréchet distance upwards, so the warning gives the number used.
            log.warning("Only %s training images can serve as the training-images baseline (the other %s are the "
                        "Parzen validation images), so it uses %s instead of %s; fewer images give a slightly larger "
                        "Fréchet distance.",
                        f"{pool:,}", f"{len(reference.train_images) - pool:,}", f"{pool:,}", f"{num_samples:,}")
            num_samples = pool
        return reference.train_images[torch.randperm(pool, generator=rng)[:num_samples]]
    if kind == "uniform-noise":
        return torch.rand(num_samples, *IMAGE_SHAPE, generator=rng) * 2.0 - 1.0
    raise ValueError(f"Unknown baseline {kind!r}; choose one of {', '.join(BASELINES)}.")


def check_images(images: torch.Tensor) -> None:
    """Raise ValueError unless ``images`` is a float tensor (N, 1, 28, 28) with N >= 2 and finite values in [-1, 1]."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"Expected a torch.Tensor of images, got {type(images).__name__}.")
    if images.ndim != 4 or tuple(images.shape[1:]) != IMAGE_SHAPE or len(images) < 2:
        raise ValueError(f"Expected images of shape (N, 1, 28, 28) with N >= 2, got {tuple(images.shape)}.")
    if not images.is_floating_point():
        raise ValueError(f"Expected float images with values in [-1, 1], got dtype {images.dtype}.")
    if not torch.isfinite(images).all():
        raise ValueError("The images contain NaN or infinite values.")
    low, high = float(images.min()), float(images.max())
    # A small tolerance admits rounding errors of a Tanh output; anything beyond is another scale.
    if low < -1.0 - 1e-4 or high > 1.0 + 1e-4:
        raise ValueError(f"Expected pixel values in [-1, 1] (the generator's Tanh range), got [{low:.3g}, {high:.3g}]. "
                         "Map [0, 1] images with x * 2 - 1 and uint8 images with x / 127.5 - 1.")


@torch.no_grad()
def generate_images(generator: Generator, num_samples: int, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """Draw ``num_samples`` images from ``generator`` in eval mode, with z ~ N(0, I) from a seeded RNG.

    z is drawn on the CPU and moved to the generator's device, so the images depend only on the seed.
    A conditional generator is asked for the classes in turn (0, 1, ..., 9, 0, ...), so its samples
    follow the balanced class frequencies of the test sets. Returns a CPU tensor (N, 1, 28, 28).
    """
    device = next(generator.parameters()).device
    z = torch.randn(num_samples, generator.z_dim, generator=torch.Generator().manual_seed(seed))
    labels = torch.arange(num_samples) % generator.num_classes if generator.num_classes else None
    images = []
    for start in range(0, num_samples, batch_size):
        batch_labels = None if labels is None else labels[start : start + batch_size].to(device)
        images.append(sample_images(generator, z[start : start + batch_size].to(device), batch_labels).cpu())
    return torch.cat(images)


def load_generator(checkpoint_path: str | os.PathLike) -> tuple[Generator, dict]:
    """Rebuild the generator of a training checkpoint; return it (on the CPU) and the checkpoint.

    Raises gan_train_script.CheckpointError when the file is missing, damaged or not a checkpoint.
    """
    checkpoint = read_checkpoint(checkpoint_path)
    config = TrainConfig(**checkpoint["config"])
    generator = Generator(config.z_dim, config.g_hidden, NUM_CLASSES if config.conditional else 0)
    generator.load_state_dict(checkpoint["generator"])
    generator.eval()
    return generator, checkpoint


@dataclass
class EvaluationResult:
    """Every metric for one set of samples, with the time each step took."""

    name: str
    dataset: str
    num_samples: int
    seed: int
    classifier: dict  # TrainedClassifier.describe()
    coverage: ClassCoverage
    frechet_distance: float
    frechet_references: dict[str, float]  # baseline name -> Fréchet distance to the test images
    parzen: ParzenResult
    memorization: Memorization
    seconds: dict[str, float]  # per step, and "total"
    samples: torch.Tensor = field(repr=False)  # the scored images, for plots
    reference: ReferenceData = field(repr=False)

    def to_dict(self) -> dict:
        """Return the results as JSON-serialisable data (the memorization distances as a summary)."""
        return {
            "name": self.name,
            "dataset": self.dataset,
            "num_samples": self.num_samples,
            "seed": self.seed,
            "classifier": self.classifier,
            "class_coverage": {
                "counts": self.coverage.counts,
                "classes_covered": self.coverage.classes_covered,
                "min_fraction": self.coverage.min_fraction,
                "kl_generated_to_test": self.coverage.kl_divergence,
                "kl_epsilon": KL_EPSILON,
                "mean_top_probability": self.coverage.mean_top_probability,
            },
            "frechet_distance": self.frechet_distance,
            "frechet_references": self.frechet_references,
            "parzen": vars(self.parzen),
            "memorization": self.memorization.summary(),
            "seconds": {name: round(value, 2) for name, value in self.seconds.items()},
        }

    def plot_memorization(self, count: int = 8) -> Figure:
        """Draw the samples closest to a training image; see plot_closest_pairs()."""
        return plot_closest_pairs(self.samples, self.reference.train_images, self.memorization, count)

    def format_table(self) -> str:
        """Return the results as an aligned plain-text table."""
        coverage, parzen, memo = self.coverage, self.parzen, self.memorization.summary()
        references = ", ".join(f"{name} {value:.3f}" for name, value in self.frechet_references.items())
        histogram = " ".join(f"{label}:{count}" for label, count in enumerate(coverage.counts))
        rows = [
            ("samples", f"{self.num_samples:,} (seed {self.seed})"),
            ("classifier test accuracy", f"{100 * self.classifier['test_accuracy']:.2f}%"),
            (f"classes with >= {100 * coverage.min_fraction:g}% of samples",
             f"{coverage.classes_covered} / {NUM_CLASSES}"),
            ("predicted class counts", histogram),
            ("KL(generated || test classes)", f"{coverage.kl_divergence:.4f} nats"),
            ("mean top-class probability", f"{coverage.mean_top_probability:.4f}"),
            ("classifier Fréchet distance", f"{self.frechet_distance:.3f}"),
            ("  same for baselines", references),
            ("Parzen log-likelihood (test)", f"{parzen.mean:.1f} ± {parzen.standard_error:.1f} nats "
                                             f"(sigma {parzen.sigma:.4g})"),
            ("nearest training image, median L2", f"samples {memo['sample_median']:.3f}, "
                                                  f"test images {memo['test_median']:.3f}"),
            (f"samples below test's {memo['test_percentile']:g}% quantile",
             f"{100 * memo['fraction_below_threshold']:.1f}% (threshold {memo['test_threshold']:.3f}, "
             f"{memo['num_samples']:,} samples, {memo['num_test']:,} test images)"),
            ("time", ", ".join(f"{name} {value:.1f} s" for name, value in self.seconds.items())),
        ]
        width = max(len(label) for label, _ in rows)
        title = f"{self.name}: {PRETTY_NAMES[self.dataset]}"
        return "\n".join([title, "-" * len(title)] + [f"{label:<{width}}  {value}" for label, value in rows])


def evaluate_images(images: torch.Tensor, reference: ReferenceData, name: str = "images", seed: int = 0,
                    memorization_samples: int = DEFAULT_MEMORIZATION_SAMPLES,
                    progress: Callable[[str], None] | None = None) -> EvaluationResult:
    """Compute every metric for images (N, 1, 28, 28) in [-1, 1] against ``reference``.

    ``seed`` draws the baselines of the Fréchet distance (as many images as ``images``). The
    memorization check compares the first ``memorization_samples`` images and as many test images
    with all training images.
    """
    check_images(images)
    images = images.detach().float().cpu()
    report = progress or (lambda line: None)
    seconds: dict[str, float] = {}
    total_started = time.perf_counter()

    started = time.perf_counter()
    outputs = classify(reference.classifier.model, images)
    coverage = class_coverage(outputs.probabilities, reference.test_class_frequencies)
    seconds["classifier"] = time.perf_counter() - started

    started = time.perf_counter()
    fd = frechet_distance(*gaussian_statistics(outputs.features), reference.test_mean, reference.test_covariance)
    seconds["frechet"] = time.perf_counter() - started
    started = time.perf_counter()
    fd_references = reference.frechet_references(len(images), seed)  # computed once per reference and size
    seconds["frechet_baselines"] = time.perf_counter() - started
    report(f"{name}: {coverage.classes_covered} of {NUM_CLASSES} classes covered, classifier Fréchet distance {fd:.3f}")

    started = time.perf_counter()
    parzen = parzen_evaluation(to_unit_pixels(images), reference.parzen_validation,
                               to_unit_pixels(reference.test_images))
    seconds["parzen"] = time.perf_counter() - started
    report(f"{name}: Parzen log-likelihood {parzen.mean:.1f} ± {parzen.standard_error:.1f} (sigma {parzen.sigma:.4g})")

    started = time.perf_counter()
    compared = images[:memorization_samples]
    sample_distances, sample_nearest = nearest_neighbors(to_unit_pixels(compared),
                                                         to_unit_pixels(reference.train_images))
    test_distances, test_nearest = reference.test_neighbors(len(compared))
    memorization = Memorization(sample_distances, sample_nearest, test_distances, test_nearest)
    seconds["memorization"] = time.perf_counter() - started
    seconds["total"] = time.perf_counter() - total_started

    return EvaluationResult(name, reference.dataset, len(images), seed, reference.classifier.describe(), coverage,
                            fd, fd_references, parzen, memorization, seconds, images, reference)


def evaluate_generator(source: Generator | torch.Tensor | str | os.PathLike, dataset: str | None = None,
                       data_dir: str | os.PathLike | None = None, *, num_samples: int = DEFAULT_NUM_SAMPLES,
                       seed: int = 0, cache_dir: str | os.PathLike | None = None,
                       memorization_samples: int = DEFAULT_MEMORIZATION_SAMPLES,
                       reference: ReferenceData | None = None, name: str | None = None,
                       progress: Callable[[str], None] | None = None) -> EvaluationResult:
    """Evaluate a generator, a checkpoint file or a tensor of images; return every metric.

    ``source`` is one of three things. From a Generator, ``num_samples`` images are drawn with ``seed``.
    From the path of a training checkpoint, its generator is loaded, and its dataset is used when
    ``dataset`` is None. From a float tensor (N, 1, 28, 28) in [-1, 1], the first ``num_samples``
    images are scored. ``dataset`` defaults to "mnist".
    Pass a ``reference`` from prepare_reference() to evaluate several sources without reloading the
    data; otherwise it is prepared here from ``data_dir`` and ``cache_dir``.
    """
    if isinstance(source, (str, os.PathLike)):
        generator, checkpoint = load_generator(source)
        trained_on = checkpoint["config"]["dataset"]
        if dataset is not None and dataset != trained_on:
            raise ValueError(f"The checkpoint {source} was trained on {trained_on}, not on {dataset}.")
        dataset = trained_on
        name = name or f"{source} (epoch {checkpoint['epoch']})"
        source = generator
    dataset = dataset or (reference.dataset if reference is not None else "mnist")
    if reference is None:
        reference = prepare_reference(dataset, data_dir, cache_dir, progress=progress)
    elif reference.dataset != dataset:
        raise ValueError(f"The reference data is {reference.dataset}, but dataset {dataset} was requested.")

    started = time.perf_counter()
    if isinstance(source, Generator):
        images = generate_images(source, num_samples, seed)
        name = name or "generator"
    else:
        check_images(source)
        if len(source) < num_samples:
            log.warning("Only %d images were given; the Fréchet distance and the Parzen log-likelihood depend on "
                        "the number of samples, so compare them only with results for %d samples.",
                        len(source), len(source))
        images = source[:num_samples]
        name = name or "images"
    sampling_seconds = time.perf_counter() - started

    result = evaluate_images(images, reference, name, seed, memorization_samples, progress)
    result.seconds = {"sampling": sampling_seconds, **result.seconds}
    result.seconds["total"] += sampling_seconds
    return result


# ----------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser of gan-evaluate."""
    parser = argparse.ArgumentParser(
        prog="gan-evaluate",
        description="Evaluate a GAN generator offline: class coverage and Fréchet distance from the project's "
                    "own classifier, Parzen window log-likelihood, and distances to the nearest training image. "
                    f"Prints a table and writes {EVALUATION_JSON} and {MEMORIZATION_FIGURE}.",
        epilog="examples:\n"
               "  gan-evaluate runs/mnist-60ep/checkpoint.pt\n"
               "  gan-evaluate --images samples.pt --dataset fashion-mnist --out-dir runs/other-model\n"
               "  gan-evaluate --baseline training-images --out-dir runs/baseline-training-images",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_argument_group("what to evaluate (exactly one)")
    source.add_argument("checkpoint", nargs="?", type=Path, default=None,
                        help="checkpoint.pt of a training run; outputs go into its folder unless --out-dir is given")
    source.add_argument("--images", type=Path, default=None,
                        help="a file written by torch.save that contains a float tensor (N, 1, 28, 28) "
                             "with values in [-1, 1]")
    source.add_argument("--baseline", choices=BASELINES, default=None,
                        help="score real training images or uniform noise in [-1, 1] as if they were samples")

    data = parser.add_argument_group("data and cache")
    data.add_argument("--dataset", choices=DATASETS, default=None,
                      help="dataset to compare with (default: the checkpoint's dataset, else mnist)")
    data.add_argument("--data-dir", type=Path, default=None,
                      help=f"folder with torchvision's MNIST/ and FashionMNIST/ subfolders, only read "
                           f"(default: ${DATA_DIR_ENV}, else data/ in the checkout)")
    data.add_argument("--cache-dir", type=Path, default=None,
                      help=f"folder for the trained classifiers, in its classifiers/ subfolder "
                           f"(default: ${CACHE_DIR_ENV}, else cache/ in the checkout)")
    data.add_argument("--retrain-classifier", action="store_true",
                      help="train the reference classifier again even when a cached one fits")

    settings = parser.add_argument_group("evaluation")
    settings.add_argument("--num-samples", type=integer_at_least(2, "a number of images"),
                          default=DEFAULT_NUM_SAMPLES, help="images to draw and score (default: %(default)s)")
    settings.add_argument("--memorization-samples", type=integer_at_least(1, "a number of images"),
                          default=None,
                          help="samples, and test images, compared with every training image (default: "
                               f"{DEFAULT_MEMORIZATION_SAMPLES}, or --num-samples if that is smaller)")
    settings.add_argument("--seed", type=integer_at_least(0, "a seed"), default=0,
                          help="seed of the latent vectors and of the baselines (default: %(default)s)")
    settings.add_argument("--out-dir", type=Path, default=None,
                          help=f"folder for {EVALUATION_JSON} and {MEMORIZATION_FIGURE} (default: the folder of "
                               "the checkpoint or of --images; required with --baseline)")
    return parser


def _check_folder_option(parser: argparse.ArgumentParser, option: str, folder: Path | None) -> None:
    if folder is not None and folder.exists() and not folder.is_dir():
        parser.error(f"argument {option}: {folder} is a file, not a folder; pass a folder")


def _check_writable(parser: argparse.ArgumentParser, out_dir: Path) -> None:
    _check_folder_option(parser, "--out-dir", out_dir)
    check_writable_folder(parser, out_dir)


def _load_images_option(parser: argparse.ArgumentParser, path: Path) -> torch.Tensor:
    if not path.is_file():
        parser.error(f"argument --images: file {path} not found; pass a file written by torch.save(images, path)")
    try:
        images = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        parser.error(f"argument --images: {path} could not be read ({type(error).__name__}); "
                     "pass a file written by torch.save(images, path)")
    try:
        check_images(images)
    except ValueError as error:
        parser.error(f"argument --images: {path}: {error}")
    return images


def machine_description() -> str:
    """Describe the CPU, e.g. "x86_64, AMD EPYC, 2 cores, 2 torch threads"."""
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"{platform.machine()}, {model or 'unknown CPU'}, {os.cpu_count()} cores, {threads} torch threads"


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 success, 1 failure, 2 invalid option)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")

    given = [name for name, value in (("CHECKPOINT", args.checkpoint), ("--images", args.images),
                                      ("--baseline", args.baseline)) if value is not None]
    if len(given) != 1:
        parser.error(f"give exactly one of CHECKPOINT, --images or --baseline (got {', '.join(given) or 'none'})")
    if args.memorization_samples is None:
        args.memorization_samples = min(DEFAULT_MEMORIZATION_SAMPLES, args.num_samples)
    if args.memorization_samples > args.num_samples:
        parser.error(f"argument --memorization-samples: invalid value {args.memorization_samples}: "
                     f"expected at most --num-samples ({args.num_samples})")
    _check_folder_option(parser, "--data-dir", args.data_dir)
    _check_folder_option(parser, "--cache-dir", args.cache_dir)

    source: Generator | torch.Tensor | Path
    if args.checkpoint is not None:
        if not args.checkpoint.is_file():
            parser.error(f"argument CHECKPOINT: file {args.checkpoint} not found; pass the checkpoint.pt of a run")
        try:
            generator, checkpoint = load_generator(args.checkpoint)
        except CheckpointError as error:
            parser.error(f"argument CHECKPOINT: {error}")
        trained_on = checkpoint["config"]["dataset"]
        if args.dataset is not None and args.dataset != trained_on:
            parser.error(f"argument --dataset: invalid choice {args.dataset!r} for this checkpoint, which was "
                         f"trained on {trained_on!r}; leave --dataset out or pass {trained_on}")
        dataset = trained_on
        source, name = generator, f"{args.checkpoint} (epoch {checkpoint['epoch']})"
        out_dir = args.out_dir or args.checkpoint.parent
    elif args.images is not None:
        source, name = _load_images_option(parser, args.images), str(args.images)
        dataset = args.dataset or "mnist"
        out_dir = args.out_dir or args.images.parent
    else:
        if args.out_dir is None:
            parser.error("argument --out-dir: required with --baseline, which has no run folder of its own")
        dataset = args.dataset or "mnist"
        source, name, out_dir = None, f"baseline {args.baseline}", args.out_dir
    _check_writable(parser, out_dir)

    try:
        started = time.perf_counter()
        reference = prepare_reference(dataset, args.data_dir, args.cache_dir, args.retrain_classifier,
                                      progress=log.info)
        prepare_seconds = time.perf_counter() - started
        num_samples = args.num_samples
        if source is None:
            source = baseline_images(reference, args.baseline, num_samples, args.seed)
            num_samples = len(source)  # fewer than requested when the training set is small
        result = evaluate_generator(source, dataset, num_samples=num_samples, seed=args.seed,
                                    memorization_samples=args.memorization_samples, reference=reference,
                                    name=name, progress=log.info)
    except (DataNotFoundError, CorruptDataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    print(result.format_table())
    print(f"reference preparation (data, classifier, test statistics): {prepare_seconds:.1f} s")
    report = {
        "command": " ".join(["gan-evaluate", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_description(),
        "versions": library_versions(),
        "data_source": reference.data_source,
        "prepare_seconds": round(prepare_seconds, 2),
        **result.to_dict(),
    }
    write_json(report, out_dir / EVALUATION_JSON)
    save_figure(result.plot_memorization(), out_dir / MEMORIZATION_FIGURE)
    print(f"Wrote {out_dir / EVALUATION_JSON} and {out_dir / MEMORIZATION_FIGURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
