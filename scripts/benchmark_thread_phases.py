"""Time this project's training step in alternating blocks on one CPU thread and on all of them.

On a shared virtual machine the step's time can jump between two levels for seconds or minutes at a
time (docs/benchmarks.md). Alternating the thread count in one process separates two possible causes.
If the host slows the whole machine, the one-thread blocks slow down too. If only the second thread
stops helping, the one-thread blocks keep their time and the others fall to it.

    python scripts/benchmark_thread_phases.py --data-dir DATA
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from gan_data import iterate_batches, load_images, to_training_tensor
from gan_train_script import TrainConfig, integer_at_least, new_train_state, training_step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Time the training step in blocks on one thread and on all.")
    parser.add_argument("--data-dir", default=None, help="folder holding MNIST/raw (default: as gan-train)")
    parser.add_argument("--rounds", type=integer_at_least(1, "a number of rounds"), default=20,
                        help="rounds, each one block on one thread and one on all threads")
    parser.add_argument("--steps", type=integer_at_least(1, "a number of steps"), default=100,
                        help="training steps per block")
    args = parser.parse_args(argv)

    all_threads = torch.get_num_threads()
    torch.manual_seed(0)
    state = new_train_state(TrainConfig(), torch.device("cpu"))
    data = to_training_tensor(load_images("mnist", args.data_dir).images)

    def batches():
        while True:
            yield from iterate_batches(data, state.config.batch_size)

    source = batches()

    def block(steps: int) -> float:
        started = time.perf_counter()
        for _ in range(steps):
            training_step(state.generator, state.discriminator, state.optimizer_G, state.optimizer_D,
                          next(source), state.config.z_dim)
        return (time.perf_counter() - started) / steps * 1e3

    block(20)  # warm up
    milliseconds: dict[int, list[float]] = {1: [], all_threads: []}  # per step, one entry per block
    for _ in range(args.rounds):
        for threads in milliseconds:
            torch.set_num_threads(threads)
            milliseconds[threads].append(block(args.steps))

    print(f"{args.rounds} rounds of {args.steps} steps per thread count, in the order run (ms per step):")
    for threads, values in milliseconds.items():
        print(f"  {threads} thread{'s' if threads > 1 else ' '}: median {statistics.median(values):5.2f}  "
              f"{' '.join(f'{value:.1f}' for value in values)}")


if __name__ == "__main__":
    main()
