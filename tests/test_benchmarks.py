"""The benchmark scripts run end to end on tiny data and print every row that docs/benchmarks.md quotes."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts"


def load_script(name: str):
    """Import scripts/<name>.py, which the package does not install, as a module."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def latency_probe(tmp_path_factory) -> Path:
    """Compile scripts/core_to_core_latency.c; skip where no C compiler or fewer than two CPUs are available."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler (cc or gcc) to build scripts/core_to_core_latency.c")
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("the latency probe needs two CPUs")
    program = tmp_path_factory.mktemp("probe") / "core_to_core_latency"
    subprocess.run([compiler, "-O2", "-pthread", "-o", str(program), str(SCRIPTS_DIR / "core_to_core_latency.c")],
                   check=True)
    return program


@pytest.fixture
def restore_threads():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_training_step_benchmark_rows(tiny_data_dir, capsys):
    benchmark = load_script("benchmark_training_step")
    benchmark.main(["--data-dir", str(tiny_data_dir), "--rounds", "2", "--steps", "3"])
    output = capsys.readouterr().out

    for row in ("(a)  tutorial", "(a') tutorial DataLoader", "(b)  project", "(c)  bound"):
        assert re.search(re.escape(row) + r".* \d+\.\d\d ms/step", output), row
    per_round = re.search(r"per round: \(b\) ms/step ([\d. ]+); \(b\)/\(a\) ([\d. ]+)\n", output)
    assert per_round is not None
    assert len(per_round.group(1).split()) == 2
    assert len(per_round.group(2).split()) == 2
    assert re.search(r"median per-round ratios: \(b\)/\(a\) = \d\.\d\d, \(b\)/\(c\) = \d+\.\d\d", output)


def test_training_step_benchmark_probe(tiny_data_dir, latency_probe, capsys):
    benchmark = load_script("benchmark_training_step")
    benchmark.main(["--data-dir", str(tiny_data_dir), "--rounds", "2", "--steps", "2",
                    "--latency-probe", str(latency_probe)])
    output = capsys.readouterr().out

    round_trips = re.search(r"per round: round trip between CPUs \d+ and \d+, .* \(ns\): ([\d ]+)\n", output)
    assert round_trips is not None
    assert len(round_trips.group(1).split()) == 2
    assert "median per-round ratios" in output


def test_thread_phase_benchmark_rows(tiny_data_dir, capsys, restore_threads):
    all_threads = torch.get_num_threads()
    benchmark = load_script("benchmark_thread_phases")
    benchmark.main(["--data-dir", str(tiny_data_dir), "--rounds", "2", "--steps", "3"])
    output = capsys.readouterr().out

    assert "2 rounds of 3 steps per thread count" in output
    rows = re.findall(r"^  (\d+) threads? *: median +\d+\.\d\d +(\d.*)$", output, flags=re.MULTILINE)
    assert [int(threads) for threads, _ in rows] == sorted({1, all_threads})
    for _, values in rows:
        assert len(values.split()) == 2
    assert torch.get_num_threads() == all_threads


def test_thread_phases_with_latency_probe(tiny_data_dir, latency_probe, capsys, restore_threads):
    all_threads = torch.get_num_threads()
    benchmark = load_script("benchmark_thread_phases")
    benchmark.main(["--data-dir", str(tiny_data_dir), "--rounds", "3", "--steps", "2",
                    "--latency-probe", str(latency_probe)])
    output = capsys.readouterr().out

    round_trips = re.search(rf"the larger before and after each {all_threads}-thread block \(ns\): ([\d ]+)\n", output)
    assert round_trips is not None
    values = [int(value) for value in round_trips.group(1).split()]
    assert len(values) == 3
    assert all(value > 0 for value in values)
    groups = re.findall(rf"{all_threads}-thread blocks with round trips .*: (\d+), ", output)
    assert len(groups) == 2
    assert sum(map(int, groups)) == 3
    # The fastest round trip is always under 3 times itself, so the first group is never empty.
    assert int(groups[0]) >= 1


def test_latency_probe_missing_program(tmp_path):
    benchmark = load_script("benchmark_thread_phases")
    with pytest.raises(SystemExit) as stop:
        benchmark.LatencyProbe(str(tmp_path / "missing"), (0, 1)).round_trip()
    message = str(stop.value)
    assert str(tmp_path / "missing") in message
    assert "make latency-probe" in message


def test_latency_probe_failure_message(latency_probe):
    benchmark = load_script("benchmark_thread_phases")
    with pytest.raises(SystemExit) as stop:
        benchmark.LatencyProbe(str(latency_probe), (0, 0)).round_trip()
    message = str(stop.value)
    assert "failed with exit status 2" in message
    assert "must be two different CPUs, got 0 twice" in message


def test_latency_probe_without_number(tmp_path):
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\necho hello\n")
    silent.chmod(0o755)
    benchmark = load_script("benchmark_thread_phases")
    with pytest.raises(SystemExit) as stop:
        benchmark.LatencyProbe(str(silent), (0, 1)).round_trip()
    message = str(stop.value)
    assert "printed 'hello' where a round trip in nanoseconds was expected" in message
    assert "make latency-probe" in message


@pytest.mark.parametrize("script", ["benchmark_training_step", "benchmark_thread_phases"])
def test_wrong_probe_stops_before_data(script, tmp_path, no_offline_copies):
    # The data folder is empty, so a script that loaded the data first would stop with a data error instead.
    benchmark = load_script(script)
    with pytest.raises(SystemExit) as stop:
        benchmark.main(["--data-dir", str(tmp_path), "--latency-probe", str(tmp_path / "missing")])
    assert str(stop.value).startswith(f"error: the latency probe {tmp_path / 'missing'} could not run")


def test_latency_probe_folder(tmp_path):
    # A folder such as build/ must be named as a folder, not reported as a missing file.
    benchmark = load_script("benchmark_thread_phases")
    with pytest.raises(SystemExit) as stop:
        benchmark.LatencyProbe.start(str(tmp_path))
    assert str(stop.value).startswith(f"error: the latency probe {tmp_path} is a folder, not a program.")
    assert "make latency-probe" in str(stop.value)


def test_latency_probe_relative_path(latency_probe, monkeypatch):
    # A name without a slash would make subprocess search PATH; the probe must run the file in the working folder.
    monkeypatch.chdir(latency_probe.parent)
    benchmark = load_script("benchmark_thread_phases")
    probe = benchmark.LatencyProbe.start(latency_probe.name)
    assert probe.program == str(latency_probe)
    assert probe.round_trip() > 0


@pytest.mark.parametrize(("arguments", "message"), [
    (["1", "1"], "CPU_A and CPU_B must be two different CPUs, got 1 twice"),
    (["0", "5000"], "CPU numbers must be below"),
    (["x", "1"], "invalid CPU_A 'x'"),
    (["0", "1", "0"], "invalid ROUND_TRIPS '0'"),
    (["0"], "usage:"),
])
def test_latency_probe_rejects_arguments(latency_probe, arguments, message):
    finished = subprocess.run([str(latency_probe), *arguments], capture_output=True, text=True, check=False)
    assert finished.returncode == 2
    assert message in finished.stderr


def test_tutorial_dataset_missing_files(tmp_path):
    benchmark = load_script("benchmark_training_step")
    with pytest.raises(SystemExit) as stop:
        benchmark.tutorial_dataset(tmp_path)
    message = str(stop.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "--data-dir" in message


def test_training_step_benchmark_no_data(tmp_path, no_offline_copies):
    benchmark = load_script("benchmark_training_step")
    with pytest.raises(SystemExit) as stop:
        benchmark.main(["--data-dir", str(tmp_path)])
    message = str(stop.value)
    assert message.startswith("error: MNIST")
    assert str(tmp_path / "MNIST" / "raw") in message


@pytest.mark.parametrize("script", ["benchmark_training_step", "benchmark_thread_phases"])
@pytest.mark.parametrize("option", ["--rounds", "--steps"])
def test_benchmark_rejects_zero_count(script, option, capsys):
    benchmark = load_script(script)
    with pytest.raises(SystemExit) as stop:
        benchmark.main([option, "0"])

    assert stop.value.code == 2
    message = capsys.readouterr().err
    assert option in message
    assert "invalid value 0" in message
