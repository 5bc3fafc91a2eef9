"""Train the GAN vignette's fully connected GAN on MNIST or Fashion-MNIST.

This is the reference implementation that both notebooks reproduce and import.

Examples:
    gan-train                                   # MNIST, default settings, outputs under runs/
    gan-train --dataset fashion-mnist --epochs 5
    gan-train --epochs 1 --subset 2000 --out-dir runs/quick
    gan-train --resume runs/quick/checkpoint.pt --epochs 2
    python scripts/gan_train_script.py --help
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from gan_data import (
    DATA_DIR_ENV,
    DATASETS,
    CorruptDataError,
    DataNotFoundError,
    iterate_batches,
    load_images,
    repository_root,
    to_training_tensor,
)
from gan_models import Discriminator, Generator, count_parameters, sample_images
from gan_outputs import (
    HISTORY_COLUMNS,
    atomic_write,
    plot_training_curves,
    save_figure,
    save_gif,
    save_grid,
    write_history_csv,
    write_json,
)
from torch import nn

log = logging.getLogger("gan_vignette")

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = 1

# Configuration fields that define what a checkpoint's weights mean; resuming with others is rejected.
ARCHITECTURE_FIELDS = ("dataset", "z_dim", "g_hidden", "d_hidden", "dropout", "conditional", "minibatch_std")
# Fields that change the sequence of training steps; resuming with others would not continue exactly.
TRAINING_FIELDS = ("batch_size", "lr", "beta1", "beta2", "seed", "subset", "generator_loss", "label_smoothing",
                   "class_counts")

# "non-saturating" maximizes log D(G(z)); "saturating" minimizes log(1 - D(G(z))), the minimax form of
# Goodfellow et al. (2014), whose gradient vanishes while the discriminator rejects the generated images.
GENERATOR_LOSSES = ("non-saturating", "saturating")
NUM_CLASSES = 10  # MNIST digits and Fashion-MNIST clothing types alike


@dataclass
class TrainConfig:
    """Everything that determines a training run's result on a given machine."""

    dataset: str = "mnist"  # "mnist" or "fashion-mnist"
    epochs: int = 60  # passes over the training images (total, including epochs before a resume)
    batch_size: int = 64  # images per step, for real and for generated images alike
    lr: float = 2e-4  # Adam learning rate of both networks
    # Adam's beta1 = 0.5 follows DCGAN (Radford et al., 2016): with less momentum each network reacts
    # sooner to the other one, whose changes make every loss landscape a moving target.
    beta1: float = 0.5
    beta2: float = 0.999  # Adam's default second-moment decay
    z_dim: int = 64  # size of the latent vector z
    g_hidden: tuple[int, ...] = (256, 512)  # generator hidden widths, from z towards the image
    d_hidden: tuple[int, ...] = (512, 256)  # discriminator hidden widths, from the image towards the logit
    dropout: float = 0.3  # dropout probability after each discriminator hidden layer
    seed: int = 0  # seeds the weights, the batch order, the noise and the fixed sample noise
    subset: int | None = None  # train on the first N training images; None for all of them
    sample_every: int = 5  # epochs between sample grids (a grid is also saved before training and at the end)
    num_samples: int = 64  # images in the fixed-noise sample grid
    # The fields below select the variants of GAN_More_Examples.ipynb. Their defaults train the plain GAN,
    # step for step as the fields above alone do.
    generator_loss: str = "non-saturating"  # one of GENERATOR_LOSSES
    # One-sided label smoothing (Salimans et al., 2016, "Improved Techniques for Training GANs"): the
    # discriminator's target for real images is 1 - label_smoothing; generated images keep the target 0.
    label_smoothing: float = 0.0
    minibatch_std: bool = False  # append the minibatch standard-deviation feature to D's last layer
    conditional: bool = False  # condition both networks on the class label
    # Train on the first COUNT training images of each listed class, e.g. ((1, 450), (7, 50)); None for all.
    class_counts: tuple[tuple[int, int], ...] | None = None

    def __post_init__(self) -> None:
        # Tuples survive the round trip through a checkpoint or JSON as lists.
        self.g_hidden = tuple(int(width) for width in self.g_hidden)
        self.d_hidden = tuple(int(width) for width in self.d_hidden)
        if self.class_counts is not None:
            self.class_counts = tuple((int(label), int(count)) for label, count in self.class_counts)
        check_experiment_options(self)


def check_experiment_options(config: TrainConfig) -> None:
    """Raise ValueError naming the field and the allowed values when an experiment option is invalid."""
    if config.generator_loss not in GENERATOR_LOSSES:
        raise ValueError(f"generator_loss {config.generator_loss!r} is invalid; choose one of "
                         f"{', '.join(GENERATOR_LOSSES)}.")
    if not 0.0 <= config.label_smoothing < 1.0:
        raise ValueError(f"label_smoothing {config.label_smoothing!r} is invalid; expected a number in [0, 1).")
    if config.class_counts is None:
        return
    if config.subset is not None:
        raise ValueError("class_counts and subset cannot be combined, because class_counts already selects the images.")
    labels = [label for label, _ in config.class_counts]
    if not labels:
        raise ValueError("class_counts is empty. List at least one (label, count) pair, or pass None.")
    for label, count in config.class_counts:
        if not 0 <= label < NUM_CLASSES:
            raise ValueError(f"class_counts label {label} is invalid; expected a class label in 0..{NUM_CLASSES - 1}.")
        if count < 1:
            raise ValueError(f"class_counts count {count} for class {label} is invalid; expected an integer >= 1.")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"class_counts lists the classes {duplicates} more than once; give each class once.")


@dataclass
class TrainState:
    """The networks, their optimizers and the record of training so far."""

    config: TrainConfig
    device: torch.device
    generator: Generator
    discriminator: Discriminator
    optimizer_G: torch.optim.Optimizer
    optimizer_D: torch.optim.Optimizer
    fixed_noise: torch.Tensor  # (num_samples, z_dim), drawn apart from the training noise
    epoch: int = 0  # epochs completed
    step: int = 0  # training steps completed
    history: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in HISTORY_COLUMNS})
    step_epochs: list[int] = field(default_factory=list)  # the epoch of each recorded step
    epoch_seconds: list[float] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------

def choose_device(name: str = "auto") -> torch.device:
    """Return the requested device; "auto" picks CUDA, then Apple's MPS, then the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was requested, but PyTorch finds no CUDA GPU; use --device auto or cpu.")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("--device mps was requested, but Apple's MPS is not available; use --device auto or cpu.")
    if name not in ("cpu", "cuda", "mps"):
        raise ValueError(f"Unknown device {name!r}; choose auto, cpu, cuda or mps.")
    return torch.device(name)


def build_models(config: TrainConfig, device: torch.device) -> tuple[Generator, Discriminator]:
    """Create the generator and the discriminator; call after seeding so the weights are reproducible."""
    num_classes = NUM_CLASSES if config.conditional else 0
    generator = Generator(config.z_dim, config.g_hidden, num_classes).to(device)
    discriminator = Discriminator(config.d_hidden, config.dropout, num_classes, config.minibatch_std).to(device)
    return generator, discriminator


def build_optimizers(config: TrainConfig, generator: nn.Module,
                     discriminator: nn.Module) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Create one Adam optimizer per network, with the configured learning rate and betas."""
    # The fused kernel updates all parameters in one pass. It computes the same update as the default
    # loop, about 3x faster on a 2-core CPU. MPS stays on the default implementation.
    fused = next(generator.parameters()).device.type in ("cpu", "cuda")
    betas = (config.beta1, config.beta2)
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=betas, fused=fused)
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=betas, fused=fused)
    return optimizer_G, optimizer_D


def make_fixed_noise(config: TrainConfig, device: torch.device) -> torch.Tensor:
    """Draw the latent vectors of the sample grid from their own generator, apart from training noise."""
    rng = torch.Generator().manual_seed(config.seed)
    return torch.randn(config.num_samples, config.z_dim, generator=rng).to(device)


# BCEWithLogitsLoss applies the sigmoid inside the loss: it is the numerically stable form of
# Sigmoid followed by BCELoss, which overflows for large logits.
adversarial_loss = nn.BCEWithLogitsLoss()


def training_step(generator: Generator, discriminator: Discriminator, optimizer_G: torch.optim.Optimizer,
                  optimizer_D: torch.optim.Optimizer, real: torch.Tensor, z_dim: int, *,
                  class_labels: torch.Tensor | None = None, generator_loss: str = "non-saturating",
                  label_smoothing: float = 0.0) -> torch.Tensor:
    """Run one discriminator update and one generator update on a batch of real images.

    Returns a tensor of HISTORY_COLUMNS: loss_D, loss_G, D(x), D(G(z)) before and after the D update.
    The keyword arguments select the experiments' variants; their defaults are the plain GAN.
    ``class_labels``: the real images' classes, for conditional networks; the generated batch is drawn
    for the same classes, so it follows the training set's class frequencies. ``generator_loss``: one of
    GENERATOR_LOSSES; with "saturating" the loss_G column records log(1 - D(G(z))), which is negative.
    ``label_smoothing``: the discriminator's target for real images is 1 - label_smoothing.
    """
    if generator_loss not in GENERATOR_LOSSES:
        raise ValueError(f"Unknown generator loss {generator_loss!r}; choose one of {', '.join(GENERATOR_LOSSES)}.")
    batch_size = real.shape[0]
    real_labels = torch.ones(batch_size, device=real.device)
    fake_labels = torch.zeros(batch_size, device=real.device)
    real_targets = real_labels if label_smoothing == 0 else torch.full_like(real_labels, 1.0 - label_smoothing)
    conditioning = () if class_labels is None else (class_labels,)

    # ---- Discriminator step: maximize log D(x) + log(1 - D(G(z))) ----
    z = torch.randn(batch_size, z_dim, device=real.device)
    fake = generator(z, *conditioning)
    # detach(): this step updates D only, so no gradient needs to flow back into G.
    if getattr(discriminator, "minibatch_std", False):
        # The minibatch feature describes a whole batch, so a mixed batch would hide what it measures.
        logits_real = discriminator(real, *conditioning)
        logits_fake = discriminator(fake.detach(), *conditioning)
    else:
        # Real and generated images go through D in one batch of 2B rows: D has no batch-dependent layer,
        # so this equals two separate passes, and one large matrix product runs faster than two small ones.
        both_conditioning = () if class_labels is None else (torch.cat([class_labels, class_labels]),)
        logits_real, logits_fake = discriminator(torch.cat([real, fake.detach()]), *both_conditioning).split(batch_size)
    loss_D = adversarial_loss(logits_real, real_targets) + adversarial_loss(logits_fake, fake_labels)
    optimizer_D.zero_grad(set_to_none=True)
    loss_D.backward()
    optimizer_D.step()

    # ---- Generator step: maximize log D(G(z)), the non-saturating loss ----
    # The same fake batch is scored again by the updated D. Labelling it "real" turns
    # minimizing log(1 - D(G(z))), whose gradient vanishes while D wins, into maximizing log D(G(z)).
    # D's weights stay fixed here, so their gradients are switched off (the gradient still flows through D).
    discriminator.requires_grad_(False)
    logits_fake_after = discriminator(fake, *conditioning)
    if generator_loss == "saturating":
        # BCE against the label 0 is -log(1 - D(G(z))), so its negative is the minimax term log(1 - D(G(z))).
        loss_G = -adversarial_loss(logits_fake_after, fake_labels)
    else:
        loss_G = adversarial_loss(logits_fake_after, real_labels)
    optimizer_G.zero_grad(set_to_none=True)
    loss_G.backward()
    optimizer_G.step()
    discriminator.requires_grad_(True)

    with torch.no_grad():
        D_x = torch.sigmoid(logits_real).mean()
        D_G_z1 = torch.sigmoid(logits_fake).mean()
        D_G_z2 = torch.sigmoid(logits_fake_after).mean()
        return torch.stack([loss_D.detach(), loss_G.detach(), D_x, D_G_z1, D_G_z2])


def iterate_labelled_batches(data: torch.Tensor, labels: torch.Tensor,
                             batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Split one epoch of images and their labels into shuffled batches, as gan_data.iterate_batches does.

    The permutation comes from torch's global RNG, and a final batch of a single image is dropped.
    """
    permutation = torch.randperm(len(data), device=data.device)
    for indices in permutation.split(batch_size):
        if len(indices) >= 2:
            yield data[indices], labels[indices]


def train_epoch(state: TrainState, data: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
    """Train for one epoch over ``data`` and return the per-step records, shape (steps, 5), on the CPU.

    ``class_labels`` (one per image) is required for conditional networks and must be None otherwise.
    """
    state.generator.train()
    state.discriminator.train()
    variant = {"generator_loss": state.config.generator_loss, "label_smoothing": state.config.label_smoothing}
    records = []
    if class_labels is None:
        for real in iterate_batches(data, state.config.batch_size):
            records.append(training_step(state.generator, state.discriminator, state.optimizer_G,
                                         state.optimizer_D, real, state.config.z_dim, **variant))
    else:
        for real, labels in iterate_labelled_batches(data, class_labels, state.config.batch_size):
            records.append(training_step(state.generator, state.discriminator, state.optimizer_G,
                                         state.optimizer_D, real, state.config.z_dim, class_labels=labels,
                                         **variant))
    return torch.stack(records).cpu()


def new_train_state(config: TrainConfig, device: torch.device) -> TrainState:
    """Seed torch's global RNG and build fresh networks, optimizers and fixed noise."""
    torch.manual_seed(config.seed)
    generator, discriminator = build_models(config, device)
    optimizer_G, optimizer_D = build_optimizers(config, generator, discriminator)
    return TrainState(config, device, generator, discriminator, optimizer_G, optimizer_D,
                      make_fixed_noise(config, device))


def load_training_data(config: TrainConfig, data_dir: str | os.PathLike | None,
                       device: torch.device) -> tuple[torch.Tensor, str]:
    """Load the training images as one float tensor in [-1, 1] on ``device``, with their source."""
    images, _, source = load_training_set(config, data_dir, device)
    return images, source


def load_training_set(config: TrainConfig, data_dir: str | os.PathLike | None,
                      device: torch.device) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Load the selected training images (float, in [-1, 1]) and their int64 labels on ``device``, with
    their source. ``config.subset`` or ``config.class_counts`` selects the images."""
    image_set = load_images(config.dataset, data_dir, train=True)
    images, labels = image_set.images, image_set.labels
    if config.class_counts is not None:
        images, labels = select_class_counts(images, labels, config.class_counts)
    elif config.subset is not None:
        if config.subset > len(images):
            log.warning("The subset of %s images is larger than the %s training images of %s, so all of them "
                        "are used.", f"{config.subset:,}", f"{len(images):,}", image_set.source)
        images, labels = images[: config.subset], labels[: config.subset]
    return to_training_tensor(images).to(device), labels.to(device), image_set.source


def select_class_counts(images: torch.Tensor, labels: torch.Tensor,
                        class_counts: Sequence[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep the first COUNT images of each (label, COUNT) pair, in the dataset's order.

    Raises ValueError when a class has fewer images than requested.
    """
    chosen = []
    for label, count in class_counts:
        indices = torch.nonzero(labels == label).flatten()
        if len(indices) < count:
            raise ValueError(f"Class {label} has only {len(indices):,} training images, but class_counts "
                             f"requests {count:,}; request at most {len(indices):,}.")
        chosen.append(indices[:count])
    order = torch.cat(chosen).sort().values
    return images[order], labels[order]


# ----------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------

class CheckpointError(RuntimeError):
    """Error for a checkpoint that cannot be read or does not fit the requested configuration."""


def rng_states(device: torch.device) -> dict[str, torch.Tensor]:
    """Return every RNG state that training draws from."""
    states = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    if device.type == "mps":
        states["mps"] = torch.mps.get_rng_state()
    return states


def set_rng_states(states: dict[str, torch.Tensor], device: torch.device) -> None:
    """Restore the RNG states saved by rng_states()."""
    torch.set_rng_state(states["torch"])
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], device)
    if device.type == "mps" and "mps" in states:
        torch.mps.set_rng_state(states["mps"])


def save_checkpoint(state: TrainState, path: Path) -> None:
    """Write everything needed to continue training exactly, atomically (temporary file, then rename)."""
    checkpoint = {
        "format": CHECKPOINT_FORMAT,
        "config": dataclasses.asdict(state.config),
        "epoch": state.epoch,
        "step": state.step,
        "generator": state.generator.state_dict(),
        "discriminator": state.discriminator.state_dict(),
        "optimizer_G": state.optimizer_G.state_dict(),
        "optimizer_D": state.optimizer_D.state_dict(),
        "rng": rng_states(state.device),
        "fixed_noise": state.fixed_noise.cpu(),
        "history": {name: torch.tensor(values, dtype=torch.float64) for name, values in state.history.items()},
        "step_epochs": torch.tensor(state.step_epochs, dtype=torch.int64),
        "epoch_seconds": list(state.epoch_seconds),
    }
    atomic_write(path, lambda temporary: torch.save(checkpoint, temporary))


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint safely (weights_only=True) and check that it is one of ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} not found; pass the checkpoint.pt of an earlier run.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for truncated or foreign files
        # Keep only the first sentence, because for a foreign file torch goes on to suggest
        # weights_only=False, which would run any code that the file contains.
        reason = (str(error).strip().splitlines() or [""])[0].split(". ")[0]
        raise CheckpointError(
            f"Checkpoint {path} could not be read ({type(error).__name__}: {reason}). "
            "It may be truncated or not a checkpoint of this project; pass the checkpoint.pt of a run."
        ) from error
    expected = {"format", "config", "epoch", "generator", "discriminator", "optimizer_G", "optimizer_D", "rng"}
    if not isinstance(checkpoint, dict) or not expected <= set(checkpoint):
        raise CheckpointError(f"{path} is not a checkpoint of this project: it lacks the keys {sorted(expected)}.")
    if checkpoint["format"] != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {checkpoint['format']}, expected {CHECKPOINT_FORMAT}.")
    return checkpoint


def check_resumable(checkpoint: dict, config: TrainConfig) -> None:
    """Raise CheckpointError unless ``config`` has the checkpoint's dataset, architecture and training settings."""
    saved = TrainConfig(**checkpoint["config"])
    differences = [f"{name}: checkpoint {getattr(saved, name)!r}, requested {getattr(config, name)!r}"
                   for name in ARCHITECTURE_FIELDS + TRAINING_FIELDS
                   if getattr(saved, name) != getattr(config, name)]
    if differences:
        raise CheckpointError(
            "The checkpoint was made with other settings, so it cannot continue this run: "
            + "; ".join(differences)
            + ". Pass the same --dataset and architecture and training options, or start a new run."
        )


def restore_train_state(checkpoint: dict, config: TrainConfig, device: torch.device) -> TrainState:
    """Rebuild the training state from a checkpoint, rejecting one made for another dataset or architecture."""
    check_resumable(checkpoint, config)
    state = new_train_state(config, device)
    state.generator.load_state_dict(checkpoint["generator"])
    state.discriminator.load_state_dict(checkpoint["discriminator"])
    state.optimizer_G.load_state_dict(checkpoint["optimizer_G"])
    state.optimizer_D.load_state_dict(checkpoint["optimizer_D"])
    state.fixed_noise = checkpoint["fixed_noise"].to(device)
    state.epoch = int(checkpoint["epoch"])
    state.step = int(checkpoint["step"])
    state.history = {name: checkpoint["history"][name].tolist() for name in HISTORY_COLUMNS}
    state.step_epochs = checkpoint["step_epochs"].tolist()
    state.epoch_seconds = [float(seconds) for seconds in checkpoint["epoch_seconds"]]
    set_rng_states(checkpoint["rng"], device)
    return state


# ----------------------------------------------------------------------------------------------------
# Training run
# ----------------------------------------------------------------------------------------------------

def format_progress(state: TrainState, records: torch.Tensor, seconds: float) -> str:
    """Return one progress line: the epoch's mean loss_D, loss_G, D(x) and D(G(z)), and its duration."""
    means = records.double().mean(dim=0)
    width = len(str(state.config.epochs))
    return (f"epoch {state.epoch:>{width}}/{state.config.epochs}  loss_D {means[0]:.3f}  loss_G {means[1]:.3f}  "
            f"D(x) {means[2]:.3f}  D(G(z)) {means[3]:.3f}  {seconds:.1f} s")


def library_versions() -> dict[str, str]:
    """Return the versions of Python and the libraries that affect the numbers."""
    import matplotlib
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": np.__version__, "matplotlib": matplotlib.__version__}


def device_description(device: torch.device) -> str:
    """Describe the device in words, e.g. "cpu (2 threads)" or "cuda (NVIDIA H200)"."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"
    return device.type


def history_arrays(state: TrainState) -> dict[str, np.ndarray]:
    """Return the per-step history as numpy arrays, one per column of HISTORY_COLUMNS."""
    return {name: np.asarray(values, dtype=np.float64) for name, values in state.history.items()}


def write_run_outputs(state: TrainState, out_dir: Path, data_source: str, num_images: int,
                      grid_paths: list[Path]) -> dict:
    """Write the loss CSV, the loss figure, the GIF and the summary JSON; return the summary."""
    history = history_arrays(state)
    write_history_csv(history, np.asarray(state.step_epochs), out_dir / "losses.csv")
    steps_per_epoch = state.step // state.epoch if state.epoch else None
    save_figure(plot_training_curves(history, steps_per_epoch), out_dir / "training_curves.png")
    save_gif(grid_paths, out_dir / "samples.gif")

    last_epoch = np.asarray(state.step_epochs) == state.epoch
    final = {name: float(history[name][last_epoch].mean()) for name in HISTORY_COLUMNS}
    summary = {
        "config": dataclasses.asdict(state.config),
        "epochs_completed": state.epoch,
        "steps_completed": state.step,
        "training_images": num_images,
        "data_source": data_source,
        "seconds_per_epoch": [round(seconds, 3) for seconds in state.epoch_seconds],
        "final_epoch_means": final,
        "generator_parameters": count_parameters(state.generator),
        "discriminator_parameters": count_parameters(state.discriminator),
        "device": device_description(state.device),
        "versions": library_versions(),
    }
    write_json(summary, out_dir / "summary.json")
    return summary


def grid_class_labels(config: TrainConfig, device: torch.device) -> tuple[torch.Tensor | None, int]:
    """Return the class labels of the fixed sample grid and its number of columns.

    For a conditional run the labels cycle through the trained classes (all ten, or those of
    ``class_counts``), so that each column of the grid shows one class; otherwise they are None and the
    grid has 8 columns.
    """
    if not config.conditional:
        return None, 8
    classes = ([label for label, _ in config.class_counts] if config.class_counts is not None
               else list(range(NUM_CLASSES)))
    positions = torch.arange(config.num_samples) % len(classes)
    return torch.tensor(classes)[positions].to(device), len(classes)


def call_without_rng_change(callback: Callable[[TrainState], None], state: TrainState) -> None:
    """Call ``callback(state)`` and then restore torch's RNG states to what they were before the call."""
    saved = rng_states(state.device)
    try:
        callback(state)
    finally:
        set_rng_states(saved, state.device)


def train(config: TrainConfig, data_dir: str | os.PathLike | None = None, out_dir: str | os.PathLike = "runs/gan",
          device: str | torch.device = "auto", resume: str | os.PathLike | None = None,
          progress: Callable[[str], None] = print,
          epoch_callback: Callable[[TrainState], None] | None = None) -> TrainState:
    """Train a GAN with ``config``, writing every output into ``out_dir``; return the final state.

    ``progress`` receives one line per epoch. With ``resume``, training continues from that checkpoint
    up to ``config.epochs`` and gives the same result as a run that was never interrupted (on the CPU).
    ``epoch_callback`` is called with the state once before the first epoch and after every epoch, for
    measurements. torch's RNG state is restored after each call, so a callback that draws random numbers
    does not change the run; it must not change the networks or their BatchNorm statistics (sample with
    gan_models.sample_images, which runs in eval mode).
    """
    device = device if isinstance(device, torch.device) else choose_device(device)
    out_dir = Path(out_dir)
    data, labels, data_source = load_training_set(config, data_dir, device)
    class_labels = labels if config.conditional else None
    if len(data) < 2:
        raise ValueError(f"Training needs at least 2 images, but only {len(data)} were loaded.")

    # Created only once the data has loaded, so that a run stopped by missing or damaged data leaves no
    # empty samples/ folder behind.
    grids_dir = out_dir / "samples"
    grids_dir.mkdir(parents=True, exist_ok=True)

    if resume is not None:
        state = restore_train_state(read_checkpoint(resume), config, device)
        progress(f"Resuming from {resume} after epoch {state.epoch} (step {state.step}).")
    else:
        state = new_train_state(config, device)
    state.config = config
    progress(f"Training on {len(data):,} images from {data_source}, device {device_description(device)}, "
             f"{count_parameters(state.generator):,} generator and "
             f"{count_parameters(state.discriminator):,} discriminator parameters.")

    # A conditional generator draws the grid with one class per column.
    fixed_labels, grid_columns = grid_class_labels(config, device)

    def sample_grid() -> torch.Tensor:
        return sample_images(state.generator, state.fixed_noise, fixed_labels)

    if state.epoch == 0:
        save_grid(sample_grid(), grids_dir / "epoch_000.png", nrow=grid_columns)
    if epoch_callback is not None:
        call_without_rng_change(epoch_callback, state)

    while state.epoch < config.epochs:
        started = time.perf_counter()
        records = train_epoch(state, data, class_labels)
        seconds = time.perf_counter() - started

        state.epoch += 1
        state.step += len(records)
        for column, name in enumerate(HISTORY_COLUMNS):
            state.history[name].extend(records[:, column].tolist())
        state.step_epochs.extend([state.epoch] * len(records))
        state.epoch_seconds.append(seconds)
        progress(format_progress(state, records, seconds))

        if state.epoch % config.sample_every == 0 or state.epoch == config.epochs:
            save_grid(sample_grid(), grids_dir / f"epoch_{state.epoch:03d}.png", nrow=grid_columns)
        save_checkpoint(state, out_dir / CHECKPOINT_NAME)
        if epoch_callback is not None:
            call_without_rng_change(epoch_callback, state)

    final_grid = sample_grid()
    save_grid(final_grid, out_dir / "samples_final.png", nrow=grid_columns)
    grid_paths = sorted(grids_dir.glob("epoch_*.png"))
    write_run_outputs(state, out_dir, data_source, len(data), grid_paths)
    return state


# ----------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------

def integer_at_least(minimum: int, description: str) -> Callable[[str], int]:
    """Return an argparse type that accepts an integer >= ``minimum``; its errors name ``description``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            message = f"invalid value {text!r}: expected {description}, an integer >= {minimum}"
            raise argparse.ArgumentTypeError(message) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"invalid value {value}: expected {description}, an integer >= {minimum}")
        return value

    return parse


def _positive_float(description: str, below_one: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        allowed = "a number in (0, 1)" if below_one else "a positive number"
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected {description}, {allowed}") from None
        if not math.isfinite(value) or value <= 0 or (below_one and value >= 1):
            raise argparse.ArgumentTypeError(f"invalid value {text}: expected {description}, {allowed}")
        return value

    return parse


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a probability in [0, 1)") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text}: expected a probability in [0, 1)")
    return value


def _class_count(text: str) -> tuple[int, int]:
    allowed = f"LABEL:COUNT with a class label in 0..{NUM_CLASSES - 1} and a count >= 1, e.g. 7:50"
    label_text, separator, count_text = text.partition(":")
    try:
        label, count = int(label_text), int(count_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected {allowed}") from None
    if not separator or not 0 <= label < NUM_CLASSES or count < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected {allowed}")
    return label, count


def _smoothing(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}: expected a number in [0, 1)") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"invalid value {text}: expected a number in [0, 1)")
    return value


class _DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Append "(default: ...)" to an option's help, except for switches, for options without a default
    and for help texts that already state the default in words."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        # Identity checks, because the seed's default 0 equals False.
        if action.default is None or action.default is False or "default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """Build the command-line parser; every option's value is checked when it is parsed."""
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="gan-train",
        description="Train a fully connected GAN on MNIST or Fashion-MNIST and save sample grids, "
                    "a GIF, loss curves, a CSV of per-step losses, a summary and a checkpoint.",
        formatter_class=_DefaultsHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default=defaults.dataset, help="dataset to train on")
    data.add_argument("--data-dir", type=Path, default=None,
                      help=f"folder with torchvision's MNIST/ and FashionMNIST/ subfolders "
                           f"(default: ${DATA_DIR_ENV}, else data/ in the checkout)")
    data.add_argument("--subset", type=integer_at_least(2, "a number of images"), default=None,
                      help="train on the first N training images only (default: all)")
    data.add_argument("--class-counts", type=_class_count, nargs="+", default=None, metavar="LABEL:COUNT",
                      help="train on the first COUNT training images of each listed class only, e.g. "
                           "--class-counts 1:450 7:50 for an imbalanced set of ones and sevens "
                           "(not with --subset)")

    training = parser.add_argument_group("training")
    training.add_argument("--epochs", type=integer_at_least(1, "a number of epochs"), default=defaults.epochs,
                          help="total number of epochs, counting those before a --resume")
    training.add_argument("--batch-size", type=integer_at_least(2, "a batch size"), default=defaults.batch_size,
                          help="images per training step (BatchNorm needs at least 2)")
    training.add_argument("--lr", type=_positive_float("a learning rate"), default=defaults.lr,
                          help="Adam learning rate of both networks")
    training.add_argument("--beta1", type=_positive_float("Adam's beta1", below_one=True),
                          default=defaults.beta1, help="Adam's first-moment decay")
    training.add_argument("--beta2", type=_positive_float("Adam's beta2", below_one=True),
                          default=defaults.beta2, help="Adam's second-moment decay")
    training.add_argument("--seed", type=integer_at_least(0, "a seed"), default=defaults.seed,
                          help="random seed for weights, batch order and noise")
    training.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                          help="where to train; auto picks CUDA, then MPS, then the CPU")
    training.add_argument("--generator-loss", choices=GENERATOR_LOSSES, default=defaults.generator_loss,
                          help="non-saturating maximizes log D(G(z)); saturating minimizes log(1 - D(G(z))), "
                               "the original minimax loss")
    training.add_argument("--label-smoothing", type=_smoothing, default=defaults.label_smoothing,
                          help="one-sided label smoothing: the discriminator's target for real images is "
                               "1 minus this value (0.1 is a common choice)")

    model = parser.add_argument_group("model")
    model.add_argument("--z-dim", type=integer_at_least(1, "a latent size"), default=defaults.z_dim,
                       help="size of the latent vector z")
    model.add_argument("--g-hidden", type=integer_at_least(1, "a layer width"), nargs="+",
                       default=list(defaults.g_hidden), help="generator hidden layer widths")
    model.add_argument("--d-hidden", type=integer_at_least(1, "a layer width"), nargs="+",
                       default=list(defaults.d_hidden), help="discriminator hidden layer widths")
    model.add_argument("--dropout", type=_probability, default=defaults.dropout,
                       help="dropout probability in the discriminator")
    model.add_argument("--minibatch-std", action="store_true",
                       help="give the discriminator's last layer the standard deviation of its features over "
                            "the batch (Karras et al., 2018), a counter to mode collapse")
    model.add_argument("--conditional", action="store_true",
                       help="condition both networks on the class label (a conditional GAN); the sample grids "
                            "then show one class per column")

    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--out-dir", type=Path, default=None,
                         help="run folder for samples, curves, CSV, summary and checkpoint "
                              "(default: runs/<dataset>-<date>-<time>; with --resume, the checkpoint's folder)")
    outputs.add_argument("--sample-every", type=integer_at_least(1, "a number of epochs"),
                         default=defaults.sample_every, help="epochs between sample grids")
    outputs.add_argument("--num-samples", type=integer_at_least(1, "a number of images"),
                         default=defaults.num_samples, help="images in the fixed-noise sample grid")
    outputs.add_argument("--resume", type=Path, default=None,
                         help="continue from this checkpoint.pt up to --epochs; the dataset, model and training "
                              "options not given on the command line are taken from the checkpoint")
    outputs.add_argument("--overwrite", action="store_true",
                         help="allow --out-dir to hold an earlier run, whose files are then replaced")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Turn parsed command-line arguments into a TrainConfig."""
    return TrainConfig(
        dataset=args.dataset, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, beta1=args.beta1,
        beta2=args.beta2, z_dim=args.z_dim, g_hidden=tuple(args.g_hidden), d_hidden=tuple(args.d_hidden),
        dropout=args.dropout, seed=args.seed, subset=args.subset, sample_every=args.sample_every,
        num_samples=args.num_samples, generator_loss=args.generator_loss, label_smoothing=args.label_smoothing,
        minibatch_std=args.minibatch_std, conditional=args.conditional,
        class_counts=tuple(args.class_counts) if args.class_counts is not None else None,
    )


def command_line_options(argv: list[str] | None) -> set[str]:
    """Return the destinations (TrainConfig field names) of the options given on the command line."""
    parser = build_parser()
    # With every default suppressed, the parsed namespace holds only what the command line set.
    # argparse has no public way to list a parser's actions, so this reads its _actions list.
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return set(vars(parser.parse_args(argv)))


def config_for_resume(config: TrainConfig, checkpoint_config: dict, explicit_options: set[str]) -> TrainConfig:
    """Return ``config`` with the checkpoint's values for the settings that a resumed run shares with it.

    Settings set on the command line (``explicit_options``) are kept, so that restore_train_state() can reject
    one that differs from the checkpoint.
    """
    saved = TrainConfig(**checkpoint_config)
    inherited = [name for name in ARCHITECTURE_FIELDS + TRAINING_FIELDS + ("sample_every", "num_samples")
                 if name not in explicit_options]
    return dataclasses.replace(config, **{name: getattr(saved, name) for name in inherited})


def default_out_dir(dataset: str) -> Path:
    """Return runs/<dataset>-<date>-<time> in the checkout (or the working folder when installed)."""
    base = repository_root() or Path.cwd()
    return base / "runs" / f"{dataset}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_out_dir(parser: argparse.ArgumentParser, out_dir: Path, resuming: bool, overwrite: bool) -> None:
    """Exit with status 2 unless ``out_dir`` can be written and contains no run that would be overwritten."""
    if out_dir.exists() and not out_dir.is_dir():
        parser.error(f"argument --out-dir: {out_dir} is a file, not a folder; choose a folder path")
    if (out_dir / CHECKPOINT_NAME).exists() and not (resuming or overwrite):
        parser.error(f"argument --out-dir: {out_dir} already holds a run ({CHECKPOINT_NAME}); "
                     "choose another folder, continue it with --resume, or pass --overwrite")
    check_writable_folder(parser, out_dir)


def check_writable_folder(parser: argparse.ArgumentParser, out_dir: Path) -> None:
    """Create ``out_dir`` if needed and exit with status 2 unless a file can be written into it."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        parser.error(f"argument --out-dir: cannot write to {out_dir} ({error.strerror}); "
                     "choose a folder you can write to")


def check_class_counts_option(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit with status 2 when --class-counts lists a class twice or is combined with --subset."""
    requested = " ".join(f"{label}:{count}" for label, count in args.class_counts)
    labels = [label for label, _ in args.class_counts]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        parser.error(f"argument --class-counts: invalid value {requested!r}: the classes {duplicates} are listed "
                     "more than once; give each class once")
    if args.subset is not None:
        parser.error(f"argument --class-counts: invalid value {requested!r} together with --subset {args.subset}: "
                     "--class-counts already selects the training images; pass only one of them")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 success, 1 failure, 2 invalid option)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")

    if args.class_counts is not None:
        check_class_counts_option(parser, args)
    config = config_from_args(args)
    try:
        device = choose_device(args.device)
    except ValueError as error:
        parser.error(f"argument --device: {error}")
    if args.data_dir is not None and args.data_dir.exists() and not args.data_dir.is_dir():
        parser.error(f"argument --data-dir: {args.data_dir} is a file, not a folder")
    if args.resume is not None and not args.resume.is_file():
        parser.error(f"argument --resume: checkpoint {args.resume} not found; pass the checkpoint.pt of a run")
    if args.resume is not None:
        try:
            checkpoint = read_checkpoint(args.resume)
            config = config_for_resume(config, checkpoint["config"], command_line_options(argv))
            check_resumable(checkpoint, config)
        except (CheckpointError, ValueError) as error:
            parser.error(f"argument --resume: {error}")
        if config.epochs <= checkpoint["epoch"]:
            parser.error(f"argument --epochs: invalid value {config.epochs}: the checkpoint has already trained "
                         f"{checkpoint['epoch']} epochs, and --epochs counts them; pass more than "
                         f"{checkpoint['epoch']} to train further")
    out_dir = args.out_dir or (args.resume.parent if args.resume else default_out_dir(config.dataset))
    check_out_dir(parser, out_dir, resuming=args.resume is not None, overwrite=args.overwrite)

    try:
        train(config, args.data_dir, out_dir, device, args.resume, progress=lambda line: print(line, flush=True))
    except (DataNotFoundError, CorruptDataError, CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Outputs written to {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
