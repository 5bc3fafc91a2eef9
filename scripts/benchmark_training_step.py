"""Time one GAN training step three ways, beside the bound set by its floating-point work.

(a)  the common tutorial: a DataLoader over torchvision's MNIST with ToTensor and Normalize per image.
     Its discriminator ends in Sigmoid with BCELoss, Adam runs its default implementation, real and fake
     images take separate discriminator passes, and the generator step computes D's weight gradients.
(a') the tutorial's DataLoader feeding this project's training step, to separate the data cost.
(b)  this project: every image in one float tensor, batches taken by a seeded permutation, and
     gan_train_script.training_step.
(c)  the bound: the floating-point operations of one step of (b), counted by torch.utils.flop_counter,
     divided by the machine's float32 matrix-multiply rate (a 2048x2048 product, best of 5).

All use the vignette's architecture and batch size 64. A shared machine's speed drifts from second to
second, so the pipelines and the matrix-multiply rate are measured in alternating rounds and each
ratio is the median of its per-round ratios.

With --latency-probe, the program built from scripts/core_to_core_latency.c runs just before and just
after each round's timing of (b), and the per-round line shows its round trip between two CPUs.

    python scripts/benchmark_training_step.py --data-dir DATA [--latency-probe build/core_to_core_latency]
"""

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import time
from functools import partial

import torch
from benchmark_thread_phases import LatencyProbe, plural
from gan_data import (
    CorruptDataError,
    DataNotFoundError,
    iterate_batches,
    load_images,
    resolve_data_dir,
    to_training_tensor,
)
from gan_train_script import TrainConfig, build_models, integer_at_least, new_train_state, training_step
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def measure_matmul_rate(size: int = 2048, repeats: int = 5) -> float:
    """Return the best float32 matrix-multiply rate in FLOP/s over ``repeats`` products of size x size."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best


def tutorial_dataset(data_dir):
    """Return torchvision's MNIST training split with the tutorial's per-image ToTensor and Normalize.

    Raises SystemExit when torchvision finds no MNIST files. The offline copies that gan_data falls back
    to are not in torchvision's layout, so the tutorial pipeline cannot read them.
    """
    from torchvision import datasets, transforms

    root = resolve_data_dir(data_dir)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    try:
        return datasets.MNIST(str(root), train=True, download=False, transform=transform)
    except RuntimeError as error:
        raise SystemExit(
            f"error: the tutorial pipeline (a) found no MNIST files in {root / 'MNIST' / 'raw'} ({error}). It "
            "reads them through torchvision, which cannot use the offline copies. Run the benchmark once with "
            "network access, which downloads MNIST there, or pass --data-dir with a folder that holds MNIST/raw."
        ) from error


def tutorial_batches(dataset, batch_size: int):
    """Yield batches forever from the common tutorial pipeline: a shuffling DataLoader over ``dataset``."""
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
    while True:
        for images, _ in loader:
            yield images


def project_batches(data: torch.Tensor, batch_size: int):
    """Yield batches forever from this project's pipeline: a seeded permutation of one float tensor."""
    while True:
        yield from iterate_batches(data, batch_size)


class TutorialStep:
    """The training step as common tutorials write it, with the vignette's architecture."""

    def __init__(self, config: TrainConfig):
        self.generator, discriminator = build_models(config, torch.device("cpu"))
        self.discriminator = nn.Sequential(discriminator, nn.Sigmoid())
        self.loss = nn.BCELoss()
        betas = (config.beta1, config.beta2)
        self.optimizer_G = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas)
        self.optimizer_D = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr, betas=betas)
        self.z_dim = config.z_dim

    def __call__(self, real: torch.Tensor) -> None:
        ones, zeros = torch.ones(real.shape[0]), torch.zeros(real.shape[0])
        fake = self.generator(torch.randn(real.shape[0], self.z_dim))

        self.optimizer_D.zero_grad()
        loss_D = self.loss(self.discriminator(real), ones) + self.loss(self.discriminator(fake.detach()), zeros)
        loss_D.backward()
        self.optimizer_D.step()

        self.optimizer_G.zero_grad()
        loss_G = self.loss(self.discriminator(fake), ones)
        loss_G.backward()
        self.optimizer_G.step()


class ProjectStep:
    """gan_train_script.training_step with its own networks and optimizers."""

    def __init__(self, config: TrainConfig):
        self.state = new_train_state(config, torch.device("cpu"))

    def __call__(self, real: torch.Tensor) -> None:
        state = self.state
        training_step(state.generator, state.discriminator, state.optimizer_G, state.optimizer_D, real,
                      state.config.z_dim)


def time_steps(batches, step, count: int) -> float:
    """Return the mean seconds per step over ``count`` steps, each fetching a batch and training on it."""
    started = time.perf_counter()
    for _ in range(count):
        step(next(batches))
    return (time.perf_counter() - started) / count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Time one GAN training step three ways, beside its FLOP bound.")
    parser.add_argument("--data-dir", default=None, help="folder holding MNIST/raw (default: as gan-train)")
    parser.add_argument("--rounds", type=integer_at_least(1, "a number of rounds"), default=7,
                        help="alternating timing rounds (default: 7)")
    parser.add_argument("--steps", type=integer_at_least(1, "a number of steps"), default=100,
                        help="training steps per pipeline and round (default: 100)")
    parser.add_argument("--latency-probe", metavar="PROGRAM", default=None,
                        help="a build of scripts/core_to_core_latency.c (make latency-probe) to run before and "
                             "after each round's timing of (b) (default: no probe)")
    args = parser.parse_args(argv)
    # Print warnings, such as an offline fallback to a smaller MNIST copy, with the prefix that gan-train uses.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    probe = LatencyProbe.start(args.latency_probe) if args.latency_probe else None

    config = TrainConfig()
    # load_images runs first because it downloads MNIST where it is missing, for the tutorial's dataset too.
    try:
        project_data = to_training_tensor(load_images("mnist", args.data_dir).images)
    except (DataNotFoundError, CorruptDataError) as error:
        raise SystemExit(f"error: {error}") from error
    tutorial_data = tutorial_dataset(args.data_dir)

    torch.manual_seed(0)
    pipelines = {
        "(a)  tutorial: DataLoader + tutorial step": (tutorial_batches(tutorial_data, 64), TutorialStep(config)),
        "(a') tutorial DataLoader + project step": (tutorial_batches(tutorial_data, 64), ProjectStep(config)),
        "(b)  project: one tensor + project step": (project_batches(project_data, 64), ProjectStep(config)),
    }
    project_batch = next(pipelines["(b)  project: one tensor + project step"][0])
    with FlopCounterMode(display=False) as counter:
        pipelines["(b)  project: one tensor + project step"][1](project_batch)
    flops = counter.get_total_flops()

    for batches, step in pipelines.values():  # warm up allocators, caches and the DataLoader
        time_steps(batches, step, 20)
    names = list(pipelines)
    seconds: dict[str, list[float]] = {name: [] for name in pipelines}
    bounds: list[float] = []
    round_trips: list[float] = []  # ns, the larger of the probes before and after each round's (b)
    for _ in range(args.rounds):
        for name, (batches, step) in pipelines.items():
            if probe and name == names[2]:
                value, round_trip = probe.around(partial(time_steps, batches, step, args.steps))
                round_trips.append(round_trip)
            else:
                value = time_steps(batches, step, args.steps)
            seconds[name].append(value)
        bounds.append(flops / measure_matmul_rate())

    tutorial, project = seconds[names[0]], seconds[names[2]]
    machine = " ".join(part for part in (platform.machine(), platform.processor()) if part)
    print(f"machine: {machine}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}")
    print(f"model: generator {config.z_dim}-{'-'.join(map(str, config.g_hidden))}-784, "
          f"discriminator 784-{'-'.join(map(str, config.d_hidden))}-1, batch {config.batch_size}")
    print(f"one step of (b): {flops / 1e6:.0f} MFLOP; matrix-multiply rate, median of rounds: "
          f"{flops / statistics.median(bounds) / 1e9:.0f} GFLOP/s")
    print(f"{plural(args.rounds, 'round')} of {plural(args.steps, 'step')} per pipeline; "
          "median (fastest-slowest round):")
    for name in names + ["(c)  bound: FLOPs / matrix-multiply rate"]:
        values = seconds.get(name, bounds)
        print(f"  {name:<44} {statistics.median(values) * 1e3:6.2f} ms/step  "
              f"({min(values) * 1e3:.2f}-{max(values) * 1e3:.2f})")
    ratios_a = [b / a for a, b in zip(tutorial, project)]
    ratios_c = [b / c for b, c in zip(project, bounds)]
    # On a shared virtual machine the step can switch between two speeds for seconds or minutes at a
    # time (docs/benchmarks.md), so the rounds show whether one run saw both.
    print(f"per round: (b) ms/step {' '.join(f'{value * 1e3:.1f}' for value in project)}; "
          f"(b)/(a) {' '.join(f'{value:.2f}' for value in ratios_a)}")
    if round_trips:
        print(f"per round: round trip between CPUs {probe.cpus[0]} and {probe.cpus[1]}, the larger before and "
              f"after (b) (ns): {' '.join(f'{value:.0f}' for value in round_trips)}")
    print(f"median per-round ratios: (b)/(a) = {statistics.median(ratios_a):.2f}, "
          f"(b)/(c) = {statistics.median(ratios_c):.2f}")


if __name__ == "__main__":
    main()
