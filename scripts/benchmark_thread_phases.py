"""Time this project's training step in alternating blocks on one CPU thread and on all of them.

On a shared virtual machine the step's time can jump between two levels for seconds or minutes at a
time (docs/benchmarks.md). Alternating the thread count in one process separates two possible causes.
If the host slows the whole machine, the one-thread blocks slow down too. If only the second thread
stops helping, the one-thread blocks keep their time and the others fall to it.

With --latency-probe the script also runs scripts/core_to_core_latency.c (built by `make latency-probe`)
just before and just after each block on all threads. The probe measures how long a cache line takes to
travel between two CPUs and back, which shows whether the host has placed the virtual machine's two
CPUs on cores that share a cache.

    python scripts/benchmark_thread_phases.py --data-dir DATA [--latency-probe build/core_to_core_latency]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from gan_data import iterate_batches, load_images, to_training_tensor
from gan_train_script import TrainConfig, integer_at_least, new_train_state, training_step

PROBE_ROUND_TRIPS = 50_000  # 2.5 to 24 ms per probe at the 49 to 473 ns round trips in docs/benchmarks.md


def plural(count: int, noun: str) -> str:
    """Return "1 round" or "3 rounds": the count and the noun, with an s unless the count is 1."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def probe_cpus() -> tuple[int, int]:
    """Return the first two CPUs that this process may run on, for the latency probe."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        raise SystemExit("error: --latency-probe needs a Linux machine with at least two CPUs available to "
                         f"this process; found {len(cpus)}. Run without --latency-probe.")
    return cpus[0], cpus[1]


@dataclass(frozen=True)
class LatencyProbe:
    """The program built from scripts/core_to_core_latency.c, run between two CPUs of this process."""

    program: str
    cpus: tuple[int, int]

    @classmethod
    def start(cls, program: str) -> LatencyProbe:
        """Pick the CPUs and run ``program`` once, so that a wrong program stops the script before any timing.

        Raises SystemExit when the program cannot run, fails or prints no round trip.
        """
        path = Path(program)
        if path.is_dir():
            raise SystemExit(f"error: the latency probe {program} is a folder, not a program. Build the probe with "
                             "'make latency-probe' and pass --latency-probe build/core_to_core_latency.")
        # subprocess looks a name without a slash up on PATH, but a file in the working folder is meant here.
        probe = cls(str(path.absolute()) if path.is_file() else program, probe_cpus())
        probe.round_trip()
        return probe

    def round_trip(self) -> float:
        """Run the probe and return its mean round trip in nanoseconds; raise SystemExit if it fails."""
        command = [self.program, str(self.cpus[0]), str(self.cpus[1]), str(PROBE_ROUND_TRIPS)]
        build_hint = "Build the probe with 'make latency-probe' and pass --latency-probe build/core_to_core_latency."
        try:
            finished = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SystemExit(f"error: the latency probe {self.program} could not run ({error}). "
                             f"{build_hint}") from error
        if finished.returncode != 0:
            message = finished.stderr.strip() or "no message"
            raise SystemExit(f"error: the latency probe {self.program} failed with exit status "
                             f"{finished.returncode} ({message}). {build_hint}")
        try:
            return float(finished.stdout)
        except ValueError:
            raise SystemExit(f"error: the latency probe {self.program} printed {finished.stdout.strip()!r} where a "
                             f"round trip in nanoseconds was expected. {build_hint}") from None

    def around(self, timed: Callable[[], float]) -> tuple[float, float]:
        """Probe, call ``timed``, probe again; return its result and the larger of the two round trips."""
        before = self.round_trip()
        result = timed()
        return result, max(before, self.round_trip())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Time the training step in blocks on one thread and on all.")
    parser.add_argument("--data-dir", default=None, help="folder holding MNIST/raw (default: as gan-train)")
    parser.add_argument("--rounds", type=integer_at_least(1, "a number of rounds"), default=20,
                        help="rounds, each one block on one thread and one on all threads (default: 20)")
    parser.add_argument("--steps", type=integer_at_least(1, "a number of steps"), default=100,
                        help="training steps per block (default: 100)")
    parser.add_argument("--latency-probe", metavar="PROGRAM", default=None,
                        help="a build of scripts/core_to_core_latency.c (make latency-probe) to run before and "
                             "after each block on all threads (default: no probe)")
    args = parser.parse_args(argv)
    # Print warnings, such as an offline fallback to a smaller MNIST copy, with the prefix that gan-train uses.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    probe = LatencyProbe.start(args.latency_probe) if args.latency_probe else None

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
    round_trips: list[float] = []  # ns, the larger of the probes before and after each block on all threads
    for _ in range(args.rounds):
        for threads in milliseconds:
            torch.set_num_threads(threads)
            if probe and threads == all_threads:
                value, round_trip = probe.around(lambda: block(args.steps))
                round_trips.append(round_trip)
            else:
                value = block(args.steps)
            milliseconds[threads].append(value)
    torch.set_num_threads(all_threads)

    print(f"{plural(args.rounds, 'round')} of {plural(args.steps, 'step')} per thread count, in the order run "
          "(ms per step):")
    for threads, values in milliseconds.items():
        print(f"  {threads} thread{'s' if threads > 1 else ' '}: median {statistics.median(values):5.2f}  "
              f"{' '.join(f'{value:.1f}' for value in values)}")
    if round_trips:
        print_round_trips(round_trips, milliseconds[all_threads], probe.cpus, all_threads)


def print_round_trips(round_trips: list[float], milliseconds: list[float], cpus: tuple[int, int],
                      threads: int) -> None:
    """Print the probe's round trip beside each block on all threads, and those blocks' times grouped by it.

    Round trips under 3 times the run's fastest count as short. On machine 4 of docs/benchmarks.md they
    took either 49 to 95 ns or 374 to 473 ns, and the two-thread step was slow at the longer times.
    """
    print(f"  round trip between CPUs {cpus[0]} and {cpus[1]}, the larger before and after each "
          f"{threads}-thread block (ns): {' '.join(f'{value:.0f}' for value in round_trips)}")
    limit = 3 * min(round_trips)
    short_trip_blocks = [value for value, trip in zip(milliseconds, round_trips) if trip < limit]
    long_trip_blocks = [value for value, trip in zip(milliseconds, round_trips) if trip >= limit]
    groups = ((f"under {limit:.0f} ns (3 times the fastest)", short_trip_blocks),
              (f"{limit:.0f} ns or more", long_trip_blocks))
    for label, values in groups:
        summary = f"median {statistics.median(values):.2f} ms/step" if values else "none"
        print(f"  {threads}-thread blocks with round trips {label}: {len(values)}, {summary}")


if __name__ == "__main__":
    main()
