"""Measurements for the experiments of notebooks/GAN_More_Examples.ipynb.

The networks and the training loop are those of gan_train_script: train() with a TrainConfig, whose
options select the experiments' variants (conditional networks, the saturating generator loss,
one-sided label smoothing, the minibatch standard-deviation feature, a subset with chosen class
counts). This module adds what the experiments measure, using the reference classifier and the
metrics of gan_evaluation:

* epoch callbacks for train(): class coverage and classifier Fréchet distance after every epoch
  (CoverageTracker), and the generator's gradient norm at every step (GradientNormRecorder);
* sampling with seeded latent vectors, also for a conditional generator (generate_images);
* paths through the latent space (interpolate_latents) and the classes read along them (read_path).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from gan_evaluation import (
    ReferenceData,
    class_coverage,
    classify,
    frechet_distance,
    gaussian_statistics,
)
from gan_models import Generator, sample_images
from gan_train_script import GENERATOR_LOSSES, NUM_CLASSES, TrainConfig, TrainState, adversarial_loss, train

INTERPOLATION_METHODS = ("linear", "spherical")
DIVERSITY_IMAGES = 1000  # images compared pairwise by mean_pairwise_distance (1000 x 1000 distances)


# ----------------------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------------------

def latent_vectors(count: int, z_dim: int, seed: int) -> torch.Tensor:
    """Draw ``count`` latent vectors z ~ N(0, I) on the CPU from their own seeded RNG (not torch's global one)."""
    return torch.randn(count, z_dim, generator=torch.Generator().manual_seed(seed))


def cycling_labels(count: int, classes: Sequence[int] = tuple(range(NUM_CLASSES))) -> torch.Tensor:
    """Return ``count`` class labels that cycle through ``classes``: 0, 1, ..., 9, 0, 1, ..."""
    return torch.tensor(list(classes), dtype=torch.int64)[torch.arange(count) % len(classes)]


def training_class_frequencies(class_counts: Sequence[tuple[int, int]]) -> np.ndarray:
    """Return the class frequencies (NUM_CLASSES,) of a training set chosen by TrainConfig.class_counts."""
    frequencies = np.zeros(NUM_CLASSES, dtype=np.float64)
    for label, count in class_counts:
        frequencies[label] = count
    return frequencies / frequencies.sum()


def class_rows(classes: Sequence[int], per_class: int) -> torch.Tensor:
    """Return labels for a grid with one row per class: each class repeated ``per_class`` times."""
    return torch.tensor(list(classes), dtype=torch.int64).repeat_interleave(per_class)


@torch.no_grad()
def images_from_latents(generator: Generator, z: torch.Tensor, labels: torch.Tensor | None = None,
                        batch_size: int = 1000) -> torch.Tensor:
    """Generate one image per latent vector (and label, for a conditional generator) in eval mode.

    The inputs may live on any device; the images come back as a CPU tensor (N, 1, 28, 28).
    """
    if labels is not None and len(labels) != len(z):
        raise ValueError(f"Expected {len(z)} labels, one per image, got {len(labels)}.")
    device = next(generator.parameters()).device
    images = []
    for start in range(0, len(z), batch_size):
        batch = z[start : start + batch_size].to(device)
        batch_labels = None if labels is None else labels[start : start + batch_size].to(device)
        images.append(sample_images(generator, batch, batch_labels).cpu())
    return torch.cat(images)


def generate_images(generator: Generator, num_samples: int, seed: int = 0, labels: torch.Tensor | None = None,
                    batch_size: int = 1000) -> torch.Tensor:
    """Draw ``num_samples`` images (a CPU tensor (N, 1, 28, 28)) in eval mode from seeded latent vectors.

    The latent vectors are latent_vectors(num_samples, z_dim, seed), the ones that
    gan_evaluation.generate_images draws with the same seed. A conditional generator needs ``labels``,
    one per image.
    """
    z = latent_vectors(num_samples, generator.z_dim, seed)
    return images_from_latents(generator, z, labels, batch_size)


# ----------------------------------------------------------------------------------------------------
# Measurements
# ----------------------------------------------------------------------------------------------------

@dataclass
class SampleMeasurement:
    """Class coverage and classifier Fréchet distance of one set of samples."""

    counts: list[int]  # samples per class predicted by the reference classifier
    classes_covered: int  # classes with at least gan_evaluation.COVERAGE_MIN_FRACTION of the samples
    kl_divergence: float  # KL(predicted class frequencies || reference frequencies), nats
    frechet_distance: float  # to the test images' classifier features
    diversity: float  # mean L2 distance between two of the first DIVERSITY_IMAGES images (pixels in [0, 1])
    epoch: int | None = None  # the training epoch after which the samples were drawn, if known
    # For a conditional generator: the fraction of samples that the classifier reads as the requested class.
    label_accuracy: float | None = None

    @property
    def fractions(self) -> np.ndarray:
        """The fraction of samples predicted as each class."""
        counts = np.asarray(self.counts, dtype=np.float64)
        return counts / counts.sum()


def measure_samples(images: torch.Tensor, reference: ReferenceData,
                    class_frequencies: Sequence[float] | np.ndarray | None = None, epoch: int | None = None,
                    requested_labels: torch.Tensor | None = None) -> SampleMeasurement:
    """Classify images (N, 1, 28, 28) in [-1, 1] with the reference classifier and measure them.

    The KL divergence compares the predicted class frequencies with ``class_frequencies`` (default: the
    test split's). The Fréchet distance depends on the number of images, so compare it only between
    sets of the same size. The diversity needs no classifier: see mean_pairwise_distance().
    ``requested_labels``, the labels a conditional generator was given, adds the label accuracy.
    """
    outputs = classify(reference.classifier.model, images.detach().float().cpu())
    frequencies = reference.test_class_frequencies if class_frequencies is None else class_frequencies
    coverage = class_coverage(outputs.probabilities, frequencies)
    distance = frechet_distance(*gaussian_statistics(outputs.features), reference.test_mean,
                                reference.test_covariance)
    label_accuracy = None
    if requested_labels is not None:
        predicted = outputs.probabilities.argmax(axis=1)
        label_accuracy = float((predicted == requested_labels.cpu().numpy()).mean())
    return SampleMeasurement(coverage.counts, coverage.classes_covered, coverage.kl_divergence, distance,
                             mean_pairwise_distance(images), epoch, label_accuracy)


def mean_pairwise_distance(images: torch.Tensor, max_images: int = DIVERSITY_IMAGES) -> float:
    """Return the mean L2 distance between two different images among the first ``max_images``.

    Pixels are scaled to [0, 1]. A collapsed generator that draws a few images over and over scores
    well below real images of the same dataset, even when those few images belong to several classes.
    """
    pixels = images[:max_images].detach().double().cpu().reshape(min(len(images), max_images), -1).add(1.0).div(2.0)
    if len(pixels) < 2:
        raise ValueError(f"The diversity needs at least 2 images, got {len(pixels)}.")
    distances = torch.cdist(pixels, pixels)
    return float(distances.sum() / (len(pixels) * (len(pixels) - 1)))


def measure_generator(generator: Generator, reference: ReferenceData, num_samples: int, seed: int = 0,
                      labels: torch.Tensor | None = None,
                      class_frequencies: Sequence[float] | np.ndarray | None = None) -> SampleMeasurement:
    """Draw ``num_samples`` images with generate_images() and measure them with measure_samples().

    For a conditional generator, ``labels`` are the requested classes and the label accuracy is measured.
    """
    images = generate_images(generator, num_samples, seed, labels)
    return measure_samples(images, reference, class_frequencies, requested_labels=labels)


@dataclass
class CoverageTracker:
    """Epoch callback for gan_train_script.train(): measures the generator after every ``every`` epochs.

    Each measurement draws ``num_samples`` images from the same seeded latent vectors (labels cycling
    through the classes for a conditional generator) and appends a SampleMeasurement to ``records``.
    The first call, before training, measures the untrained generator (epoch 0), and the last epoch is
    always measured. ``class_frequencies`` is passed on to measure_samples() (default: the test split's).
    """

    reference: ReferenceData
    num_samples: int = 1000
    seed: int = 1
    every: int = 1
    class_frequencies: np.ndarray | None = None
    records: list[SampleMeasurement] = field(default_factory=list)

    def __call__(self, state: TrainState) -> None:
        if state.epoch % self.every != 0 and state.epoch != state.config.epochs:
            return
        labels = cycling_labels(self.num_samples) if state.generator.num_classes else None
        images = generate_images(state.generator, self.num_samples, self.seed, labels)
        self.records.append(measure_samples(images, self.reference, self.class_frequencies, state.epoch, labels))

    def column(self, name: str) -> np.ndarray:
        """Return one field of every record as an array, e.g. column("classes_covered")."""
        return np.asarray([getattr(record, name) for record in self.records])


class GradientNormRecorder:
    """Epoch callback for train() that records the L2 norm of the generator's gradient at every step.

    On its first call it registers a hook that Adam runs before each update of the generator, so each
    norm is the gradient of loss_G over all generator parameters, as the update receives it. The hook
    draws no random numbers and changes nothing. Call remove() after training.
    """

    def __init__(self) -> None:
        self.norms: list[float] = []
        self._handle = None

    def __call__(self, state: TrainState) -> None:
        if self._handle is None:
            self._handle = state.optimizer_G.register_step_pre_hook(self._record)

    def _record(self, optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        gradients = [parameter.grad for group in optimizer.param_groups for parameter in group["params"]
                     if parameter.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in gradients]))
        self.norms.append(float(norm))

    def remove(self) -> None:
        """Unregister the hook; later optimizer steps are no longer recorded."""
        if self._handle is not None:
            self._handle.remove()


@dataclass
class GeneratorLossProbe:
    """The discriminator's verdict on a batch of generated images and the generator's gradient there."""

    mean_d_of_fake: float  # mean D(G(z)) over the batch
    gradient_norm: float  # L2 norm of the generator loss's gradient over all generator parameters


def probe_generator_loss(generator: Generator, discriminator: torch.nn.Module, z: torch.Tensor,
                         generator_loss: str = "non-saturating",
                         labels: torch.Tensor | None = None) -> GeneratorLossProbe:
    """Compute the generator loss's gradient for latent vectors ``z`` without changing either network.

    The loss is computed as in gan_train_script.training_step: on a copy of the generator in training
    mode (BatchNorm uses the batch's statistics, and the copy absorbs the update of the running ones),
    scored by the discriminator in eval mode (no dropout).
    """
    if generator_loss not in GENERATOR_LOSSES:
        raise ValueError(f"Unknown generator loss {generator_loss!r}; choose one of {', '.join(GENERATOR_LOSSES)}.")
    trained_copy = copy.deepcopy(generator).train()
    device = next(trained_copy.parameters()).device
    conditioning = () if labels is None else (labels.to(device),)
    was_training = discriminator.training
    discriminator.eval()
    try:
        logits = discriminator(trained_copy(z.to(device), *conditioning), *conditioning)
        if generator_loss == "saturating":
            loss = -adversarial_loss(logits, torch.zeros_like(logits))
        else:
            loss = adversarial_loss(logits, torch.ones_like(logits))
        gradients = torch.autograd.grad(loss, list(trained_copy.parameters()))
    finally:
        discriminator.train(was_training)
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in gradients]))
    return GeneratorLossProbe(float(torch.sigmoid(logits.detach()).mean()), float(norm))


def combine_callbacks(*callbacks: Callable[[TrainState], None]) -> Callable[[TrainState], None]:
    """Return one epoch callback that calls each of ``callbacks`` in order."""

    def call_each(state: TrainState) -> None:
        for callback in callbacks:
            callback(state)

    return call_each


@dataclass
class TrackedRun:
    """A finished training run with the measurements taken while it trained."""

    name: str
    state: TrainState
    coverage: CoverageTracker  # one SampleMeasurement per measured epoch, epoch 0 included
    gradient_norms: list[float]  # the generator's gradient norm at every step
    seconds: float  # wall-clock time of training and measuring

    @property
    def generator(self) -> Generator:
        return self.state.generator

    @property
    def final(self) -> SampleMeasurement:
        """The measurement after the last epoch."""
        return self.coverage.records[-1]

    def epoch_means(self, column: str) -> np.ndarray:
        """Return the mean of a HISTORY_COLUMNS column over each epoch's steps, for epochs 1, 2, ..."""
        values = np.asarray(self.state.history[column], dtype=np.float64)
        epochs = np.asarray(self.state.step_epochs)
        return np.asarray([values[epochs == epoch].mean() for epoch in range(1, self.state.epoch + 1)])


def train_tracked(name: str, config: TrainConfig, reference: ReferenceData, data_dir: str | Path | None,
                  runs_dir: str | Path, track_samples: int = 1000, track_every: int = 1,
                  class_frequencies: np.ndarray | None = None, device: str | torch.device = "auto") -> TrackedRun:
    """Train with gan_train_script.train() into ``runs_dir``/``name``, measuring every ``track_every`` epochs.

    A CoverageTracker with ``track_samples`` images (and ``class_frequencies``, see CoverageTracker) and
    a GradientNormRecorder ride along as the epoch callback; neither changes the training run. The run's
    progress lines are not printed.
    """
    tracker = CoverageTracker(reference, track_samples, every=track_every, class_frequencies=class_frequencies)
    gradients = GradientNormRecorder()
    started = time.perf_counter()
    try:
        state = train(config, data_dir, Path(runs_dir) / name, device=device, progress=lambda line: None,
                      epoch_callback=combine_callbacks(tracker, gradients))
    finally:
        gradients.remove()
    return TrackedRun(name, state, tracker, gradients.norms, time.perf_counter() - started)


def epoch_table(run: TrackedRun, epochs: Sequence[int] | None = None) -> str:
    """Return a table of the run's epoch means (losses, D outputs) and measurements, one row per epoch.

    ``epochs`` selects the rows among the measured epochs (default: all of them); epoch 0 is the untrained
    generator and has no losses. A conditional run adds the column "requested", the label accuracy.
    """
    selected_epochs = [record.epoch for record in run.coverage.records] if epochs is None else list(epochs)
    columns = {name: run.epoch_means(name) for name in ("loss_D", "loss_G", "D_x", "D_G_z1")}
    records = {record.epoch: record for record in run.coverage.records}
    conditional = run.coverage.records[0].label_accuracy is not None
    rows = []
    for epoch in selected_epochs:
        record = records[epoch]
        means = ["-"] * 4 if epoch == 0 else [f"{columns[name][epoch - 1]:.3f}" for name in columns]
        row = (epoch, *means, record.classes_covered, f"{record.kl_divergence:.3f}",
               f"{record.frechet_distance:.1f}", f"{record.diversity:.2f}")
        if conditional:
            row += (f"{100 * record.label_accuracy:.1f}%",)
        rows.append(row)
    header = ("epoch", "loss_D", "loss_G", "D(x)", "D(G(z))", "classes", "KL", "Fréchet", "diversity")
    return format_table(rows, header + (("requested",) if conditional else ()))


# ----------------------------------------------------------------------------------------------------
# Latent space
# ----------------------------------------------------------------------------------------------------

def interpolate_latents(start: torch.Tensor, end: torch.Tensor, steps: int, method: str = "linear") -> torch.Tensor:
    """Return ``steps`` latent vectors (steps, z_dim) on a path from ``start`` to ``end``, both included.

    "linear" mixes the two vectors, (1 - t) start + t end. Its midpoint between two independent
    N(0, I) vectors has about 1/sqrt(2) of their length, shorter than almost any z the generator saw in
    training. "spherical" turns the direction along the great circle from one end to the other (slerp)
    and changes the length linearly from one end's to the other's, so no point is unusually short.
    """
    if method not in INTERPOLATION_METHODS:
        raise ValueError(f"Unknown interpolation method {method!r}; choose one of {', '.join(INTERPOLATION_METHODS)}.")
    if steps < 2:
        raise ValueError(f"An interpolation needs at least 2 steps (both ends), got {steps}.")
    if start.shape != end.shape or start.ndim != 1:
        raise ValueError(f"Expected two vectors of equal length, got shapes {tuple(start.shape)} "
                         f"and {tuple(end.shape)}.")
    start, end = start.double(), end.double()
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64).unsqueeze(1)
    linear = (1 - t) * start + t * end
    if method == "linear":
        return linear.float()

    start_norm, end_norm = start.norm(), end.norm()
    cosine = torch.dot(start / start_norm, end / end_norm).clamp(-1.0, 1.0)
    angle = torch.arccos(cosine)
    if math.isclose(float(torch.sin(angle)), 0.0, abs_tol=1e-7):
        # Parallel or opposite directions: the great circle is not unique, so fall back to the line.
        return linear.float()
    start_direction, end_direction = start / start_norm, end / end_norm
    weights_start, weights_end = torch.sin((1 - t) * angle), torch.sin(t * angle)
    directions = (weights_start * start_direction + weights_end * end_direction) / torch.sin(angle)
    lengths = (1 - t) * start_norm + t * end_norm
    return (directions * lengths).float()


@dataclass
class PathReading:
    """Reference classifier's readings along a path of generated images."""

    predicted: np.ndarray  # predicted class of each image
    top_probability: np.ndarray  # the classifier's probability of that class
    step_distances: np.ndarray  # L2 pixel distance (pixels in [0, 1]) between neighbouring images, len - 1


def read_path(images: torch.Tensor, reference: ReferenceData) -> PathReading:
    """Classify the images of a latent path and measure how far each step moves in pixel space."""
    probabilities = classify(reference.classifier.model, images.detach().float().cpu()).probabilities
    pixels = images.detach().double().cpu().reshape(len(images), -1).add(1.0).div(2.0)
    step_distances = (pixels[1:] - pixels[:-1]).norm(dim=1).numpy()
    return PathReading(probabilities.argmax(axis=1), probabilities.max(axis=1), step_distances)


# ----------------------------------------------------------------------------------------------------
# Reporting
# ----------------------------------------------------------------------------------------------------

def format_table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    """Return rows as a plain-text table with aligned columns: text left-aligned, numbers right-aligned."""
    cells = [[str(value) for value in header]] + [[str(value) for value in row] for row in rows]
    if any(len(row) != len(header) for row in cells):
        raise ValueError(f"Every row needs {len(header)} values, one per header column.")
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]

    def is_number(text: str) -> bool:
        try:
            float(text.rstrip("%").replace(",", ""))
        except ValueError:
            return False
        return True

    lines = []
    for index, row in enumerate(cells):
        line = "  ".join(text.rjust(width) if index and is_number(text) else text.ljust(width)
                         for text, width in zip(row, widths))
        lines.append(line.rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)
