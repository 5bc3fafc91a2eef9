"""The benchmark scripts run end to end on tiny data and print every row that docs/benchmarks.md quotes."""

from __future__ import annotations

import importlib.util
import re
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
