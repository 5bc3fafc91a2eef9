"""Outputs of a training run: sample grids, the GIF, the loss figure, the CSV and the summary.

Figures are drawn with matplotlib's object-oriented API on an Agg canvas, never through pyplot, so they
render on a headless machine whatever DISPLAY is set to and do not change the backend of a notebook that
imports this module.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

# Step records, in the order of the CSV columns. D_G_z1 is D(G(z)) before the discriminator's update
# and D_G_z2 after it, when the generator is trained on it.
HISTORY_COLUMNS = ("loss_D", "loss_G", "D_x", "D_G_z1", "D_G_z2")

GRID_PADDING = 2
GRID_PAD_VALUE = 128  # mid grey, so that the borders stand out against black backgrounds


def images_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Map images from the fixed range [-1, 1] to uint8 pixel values: -1 -> 0, 0 -> 128, +1 -> 255.

    The range is fixed rather than each batch's min and max, so that grids from different epochs
    use the same scale and a faint image is shown as faint.
    """
    return ((images.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


def make_grid_image(images: torch.Tensor, nrow: int = 8) -> np.ndarray:
    """Arrange images (B, 1, H, W) with values in [-1, 1] into one uint8 greyscale array."""
    pixels = images_to_uint8(images)[:, 0]  # (B, H, W)
    count, height, width = pixels.shape
    ncol = min(nrow, count)
    nrows = -(-count // ncol)
    step_y, step_x = height + GRID_PADDING, width + GRID_PADDING
    grid = np.full((nrows * step_y + GRID_PADDING, ncol * step_x + GRID_PADDING), GRID_PAD_VALUE, np.uint8)
    for index in range(count):
        row, col = divmod(index, ncol)
        top, left = GRID_PADDING + row * step_y, GRID_PADDING + col * step_x
        grid[top : top + height, left : left + width] = pixels[index].numpy()
    return grid


def atomic_write(path: Path, write) -> None:
    """Call ``write(temporary_path)``, then rename the result onto ``path`` so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        # mkstemp creates the file readable by its owner only; give it the usual permissions instead.
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_grid(images: torch.Tensor, path: Path, nrow: int = 8, scale: int = 1) -> np.ndarray:
    """Save a grid of images as a PNG, enlarged ``scale`` times with nearest-neighbour pixels."""
    grid = make_grid_image(images, nrow)
    picture = Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    atomic_write(path, lambda temporary: picture.save(temporary, format="PNG"))
    return grid


def save_gif(frame_paths: Sequence[Path], path: Path, seconds_per_frame: float = 0.4) -> None:
    """Combine saved grid PNGs into a looping GIF; the last frame is held three times as long."""
    frames = [Image.open(p).convert("L") for p in frame_paths]
    if not frames:
        return
    durations = [int(seconds_per_frame * 1000)] * len(frames)
    durations[-1] *= 3

    def write(temporary: Path) -> None:
        frames[0].save(temporary, format="GIF", save_all=True, append_images=frames[1:],
                       duration=durations, loop=0)

    atomic_write(path, write)


def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Return the trailing moving average; the first window-1 points average what exists so far."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values
    window = max(1, min(window, len(values)))
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    averages = np.empty_like(values)
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    averages[:] = (cumulative[1:] - cumulative[np.arange(1, len(values) + 1) - counts]) / counts
    return averages


def plot_training_curves(history: dict[str, np.ndarray], steps_per_epoch: int | None = None) -> Figure:
    """Draw losses (raw and smoothed) and D(x), D(G(z)) against the training step.

    Dashed lines mark the values at the equilibrium D = 1/2: loss_D = log 4, loss_G = log 2, D = 0.5.
    """
    steps = np.arange(1, len(history["loss_D"]) + 1)
    window = max(1, min(200, len(steps) // 20 or 1))
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    FigureCanvasAgg(figure)
    loss_axes, d_axes = figure.subplots(1, 2)

    for name, color in (("loss_D", "tab:blue"), ("loss_G", "tab:orange")):
        loss_axes.plot(steps, history[name], color=color, alpha=0.2, linewidth=0.6)
        loss_axes.plot(steps, moving_average(history[name], window), color=color, label=f"{name} (smoothed)")
    loss_axes.axhline(np.log(4), color="tab:blue", linestyle="--", linewidth=0.8, label="log 4 (D = 1/2)")
    loss_axes.axhline(np.log(2), color="tab:orange", linestyle="--", linewidth=0.8, label="log 2 (D = 1/2)")
    loss_axes.set_title("Losses")
    loss_axes.set_ylabel("binary cross-entropy")

    d_axes.plot(steps, moving_average(history["D_x"], window), color="tab:green", label="D(x), real")
    d_axes.plot(steps, moving_average(history["D_G_z1"], window), color="tab:red", label="D(G(z)), fake")
    d_axes.axhline(0.5, color="grey", linestyle="--", linewidth=0.8, label="1/2")
    d_axes.set_ylim(0, 1)
    d_axes.set_title(f"Discriminator outputs (moving average of {window} steps)")

    for axes in (loss_axes, d_axes):
        axes.set_xlabel("training step" + (f" ({steps_per_epoch} per epoch)" if steps_per_epoch else ""))
        axes.legend(fontsize="small")
        axes.grid(alpha=0.3)
    return figure


def save_figure(figure: Figure, path: Path, dpi: int = 100) -> None:
    """Save a figure as a PNG atomically."""
    atomic_write(path, lambda temporary: figure.savefig(temporary, dpi=dpi, format="png"))


def write_history_csv(history: dict[str, np.ndarray], epochs: np.ndarray, path: Path) -> None:
    """Write one row per training step: step, epoch and every column of HISTORY_COLUMNS."""

    def write(temporary: Path) -> None:
        with open(temporary, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("step", "epoch", *HISTORY_COLUMNS))
            for index in range(len(epochs)):
                values = (f"{float(history[name][index]):.9g}" for name in HISTORY_COLUMNS)
                writer.writerow((index + 1, int(epochs[index]), *values))

    atomic_write(path, write)


def write_json(data: dict, path: Path) -> None:
    """Write a JSON file atomically, indented for people to read."""

    def write(temporary: Path) -> None:
        temporary.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")

    atomic_write(path, write)
