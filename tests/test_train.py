import csv
import json
import logging
import math
import os
import subprocess
import sys

import gan_outputs
import gan_train_script
import pytest
import torch
from gan_data import CorruptDataError
from gan_train_script import CheckpointError, TrainConfig, load_training_set, main, read_checkpoint, train
from tiny_idx import write_tiny_dataset

OUTPUT_FILES = ("checkpoint.pt", "losses.csv", "samples.gif", "samples_final.png", "summary.json",
                "training_curves.png", "samples/epoch_000.png", "samples/epoch_001.png")


def quiet(line):
    pass


def small_config(**overrides):
    settings = dict(epochs=1, batch_size=32, g_hidden=(32, 64), d_hidden=(64, 32), z_dim=8, num_samples=16,
                    sample_every=1)
    settings.update(overrides)
    return TrainConfig(**settings)


def test_one_epoch_writes_every_output(tiny_data_dir, tmp_path):
    state = train(small_config(), tiny_data_dir, tmp_path, device="cpu", progress=quiet)

    for name in OUTPUT_FILES:
        assert (tmp_path / name).is_file(), name
    assert state.epoch == 1
    assert state.step == 10  # 320 images in batches of 32

    with open(tmp_path / "losses.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    assert list(rows[0]) == ["step", "epoch", "loss_D", "loss_G", "D_x", "D_G_z1", "D_G_z2"]
    assert all(math.isfinite(float(row["loss_D"])) for row in rows)

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["batch_size"] == 32
    assert summary["epochs_completed"] == 1
    assert len(summary["seconds_per_epoch"]) == 1
    assert set(summary["final_epoch_means"]) == {"loss_D", "loss_G", "D_x", "D_G_z1", "D_G_z2"}
    assert summary["versions"]["torch"] == torch.__version__
    assert summary["device"].startswith("cpu")


def test_progress_one_line_per_epoch(tiny_data_dir, tmp_path):
    lines = []

    train(small_config(epochs=3), tiny_data_dir, tmp_path, device="cpu", progress=lines.append)

    epoch_lines = [line for line in lines if line.startswith("epoch")]
    assert len(epoch_lines) == 3
    for name in ("loss_D", "loss_G", "D(x)", "D(G(z))"):
        assert name in epoch_lines[0]


def test_sample_grids_follow_sample_every(tiny_data_dir, tmp_path):
    train(small_config(epochs=5, sample_every=2), tiny_data_dir, tmp_path, device="cpu", progress=quiet)

    names = sorted(path.name for path in (tmp_path / "samples").iterdir())
    assert names == ["epoch_000.png", "epoch_002.png", "epoch_004.png", "epoch_005.png"]


def test_two_runs_identical(tiny_data_dir, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"

    train(small_config(epochs=2), tiny_data_dir, first, device="cpu", progress=quiet)
    train(small_config(epochs=2), tiny_data_dir, second, device="cpu", progress=quiet)

    assert (first / "losses.csv").read_bytes() == (second / "losses.csv").read_bytes()
    assert (first / "samples_final.png").read_bytes() == (second / "samples_final.png").read_bytes()


def test_other_seed_differs(tiny_data_dir, tmp_path):
    train(small_config(seed=0), tiny_data_dir, tmp_path / "a", device="cpu", progress=quiet)
    train(small_config(seed=1), tiny_data_dir, tmp_path / "b", device="cpu", progress=quiet)

    assert (tmp_path / "a" / "losses.csv").read_bytes() != (tmp_path / "b" / "losses.csv").read_bytes()


def test_resume_equals_unbroken_run(tiny_data_dir, tmp_path):
    unbroken, broken = tmp_path / "unbroken", tmp_path / "broken"

    train(small_config(epochs=2), tiny_data_dir, unbroken, device="cpu", progress=quiet)
    train(small_config(epochs=1), tiny_data_dir, broken, device="cpu", progress=quiet)
    train(small_config(epochs=2), tiny_data_dir, broken, device="cpu", resume=broken / "checkpoint.pt",
          progress=quiet)

    assert (unbroken / "losses.csv").read_bytes() == (broken / "losses.csv").read_bytes()
    expected = read_checkpoint(unbroken / "checkpoint.pt")
    resumed = read_checkpoint(broken / "checkpoint.pt")
    for network in ("generator", "discriminator"):
        for name, tensor in expected[network].items():
            assert torch.equal(tensor, resumed[network][name]), f"{network}.{name}"
    assert (unbroken / "samples_final.png").read_bytes() == (broken / "samples_final.png").read_bytes()


@pytest.mark.parametrize("change, field", [
    ({"dataset": "fashion-mnist"}, "dataset"),
    ({"g_hidden": (32, 32)}, "g_hidden"),
    ({"z_dim": 9}, "z_dim"),
    ({"batch_size": 16}, "batch_size"),
])
def test_resume_rejects_other_settings(tiny_data_dir, tmp_path, change, field):
    train(small_config(), tiny_data_dir, tmp_path, device="cpu", progress=quiet)

    with pytest.raises(CheckpointError, match=field):
        train(small_config(epochs=2, **change), tiny_data_dir, tmp_path, device="cpu",
              resume=tmp_path / "checkpoint.pt", progress=quiet)


def test_truncated_checkpoint_rejected(tiny_data_dir, tmp_path):
    train(small_config(), tiny_data_dir, tmp_path, device="cpu", progress=quiet)
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[:5000])

    with pytest.raises(CheckpointError, match="could not be read"):
        read_checkpoint(path)


def test_damaged_data_leaves_no_samples_folder(tmp_path):
    data_dir = tmp_path / "data"
    images_file = write_tiny_dataset(data_dir, "MNIST") / "train-images-idx3-ubyte"
    images_file.write_bytes(images_file.read_bytes()[:-100])

    with pytest.raises(CorruptDataError):
        train(small_config(), data_dir, tmp_path / "run", progress=quiet)

    assert not (tmp_path / "run").exists()


def test_foreign_checkpoint_rejected(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, path)

    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        read_checkpoint(path)


def test_failed_save_keeps_old_checkpoint(tiny_data_dir, tmp_path, monkeypatch):
    state = train(small_config(), tiny_data_dir, tmp_path, device="cpu", progress=quiet)
    path = tmp_path / "checkpoint.pt"
    original = path.read_bytes()

    def save_half_then_fail(obj, target):
        with open(target, "wb") as handle:
            handle.write(b"partial")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(gan_train_script.torch, "save", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        gan_train_script.save_checkpoint(state, path)

    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_output_files_readable_by_others(tiny_data_dir, tmp_path):
    previous = os.umask(0o022)
    try:
        gan_outputs.write_json({"a": 1}, tmp_path / "summary.json")
    finally:
        os.umask(previous)

    assert (tmp_path / "summary.json").stat().st_mode & 0o777 == 0o644


INVALID_OPTIONS = [
    (["--epochs", "-1"], "--epochs"),
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "two"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "1"], "--batch-size"),
    (["--dataset", "cifar10"], "--dataset"),
    (["--lr", "-0.1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--beta1", "1.0"], "--beta1"),
    (["--z-dim", "0"], "--z-dim"),
    (["--g-hidden", "256", "0"], "--g-hidden"),
    (["--dropout", "1"], "--dropout"),
    (["--seed", "-5"], "--seed"),
    (["--subset", "1"], "--subset"),
    (["--sample-every", "0"], "--sample-every"),
    (["--device", "tpu"], "--device"),
]


@pytest.mark.parametrize("arguments, option", INVALID_OPTIONS)
def test_invalid_option_exits_2(arguments, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)

    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert option in message
    assert arguments[-1] in message


def test_unwritable_out_dir_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    with pytest.raises(SystemExit) as exit_info:
        main(["--out-dir", str(blocker / "run")])

    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "--out-dir" in message
    assert str(blocker / "run") in message


def test_existing_run_not_overwritten(tiny_data_dir, tmp_path, capsys):
    train(small_config(), tiny_data_dir, tmp_path, device="cpu", progress=quiet)
    before = (tmp_path / "checkpoint.pt").read_bytes()

    with pytest.raises(SystemExit) as exit_info:
        main(["--data-dir", str(tiny_data_dir), "--out-dir", str(tmp_path)])

    assert exit_info.value.code == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "checkpoint.pt").read_bytes() == before


def test_missing_resume_file_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--resume", str(tmp_path / "missing.pt")])

    assert exit_info.value.code == 2
    assert "missing.pt" in capsys.readouterr().err


def test_text_file_resume_exits_2(tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a checkpoint\n")

    with pytest.raises(SystemExit) as exit_info:
        main(["--resume", str(notes)])

    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "argument --resume: Checkpoint" in error
    assert "notes.txt could not be read" in error
    # torch's own message goes on to suggest weights_only=False, which must not reach the user.
    assert "weights_only" not in error


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_unavailable_cuda_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--device", "cuda"])

    assert exit_info.value.code == 2
    assert "--device cuda" in capsys.readouterr().err


def test_missing_data_exits_1(tmp_path, no_offline_copies, capsys):
    status = main(["--data-dir", str(tmp_path / "empty"), "--out-dir", str(tmp_path / "run"), "--epochs", "1"])

    assert status == 1
    message = capsys.readouterr().err
    assert "train-images-idx3-ubyte" in message
    assert str(tmp_path / "empty" / "MNIST" / "raw") in message


def test_command_line_run(tiny_data_dir, tmp_path, capsys):
    status = main(["--data-dir", str(tiny_data_dir), "--out-dir", str(tmp_path), "--epochs", "2",
                   "--g-hidden", "16", "--d-hidden", "16", "--batch-size", "64", "--device", "cpu"])

    assert status == 0
    output = capsys.readouterr().out
    assert output.count("\nepoch ") == 2
    assert "\r" not in output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["config"]["g_hidden"] == [16]


def test_script_runs_headless(tiny_data_dir, tmp_path):
    # A DISPLAY that points nowhere must not matter: figures are drawn without a GUI backend.
    environment = dict(os.environ, DISPLAY=":99", PYTHONPATH="")
    environment.pop("MPLBACKEND", None)
    script = gan_train_script.__file__

    result = subprocess.run(
        [sys.executable, script, "--data-dir", str(tiny_data_dir), "--out-dir", str(tmp_path), "--epochs", "1",
         "--subset", "100", "--device", "cpu"],
        capture_output=True, text=True, timeout=300, env=environment,
    )

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "training_curves.png").is_file()
    assert "\r" not in result.stdout


def test_real_mnist_subset(real_data_dir, tmp_path):
    state = train(TrainConfig(epochs=1, subset=2048, num_samples=16), real_data_dir, tmp_path, device="cpu",
                  progress=quiet)

    assert state.step == 32
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "torchvision files" in summary["data_source"]
    assert summary["training_images"] == 2048
    assert 0 < summary["final_epoch_means"]["D_x"] < 1


def test_real_mnist_full_split(real_data_dir):
    from gan_data import load_images

    loaded = load_images("mnist", real_data_dir)

    assert loaded.images.shape == (60000, 28, 28)
    assert loaded.labels[:5].tolist() == [5, 0, 4, 1, 9]


# ---- Options for the experiments of GAN_More_Examples.ipynb ----

def test_class_counts_select_images(tiny_data_dir, tmp_path):
    config = small_config(class_counts=((1, 20), (7, 5)))

    state = train(config, tiny_data_dir, tmp_path, device="cpu", progress=quiet)

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["training_images"] == 25
    assert summary["config"]["class_counts"] == [[1, 20], [7, 5]]
    assert state.step == 1  # 25 images in one batch of 32


def test_class_counts_above_available_rejected(tiny_data_dir, tmp_path):
    # The tiny training split has 32 images of each class.
    with pytest.raises(ValueError, match="Class 7 has only 32 training images"):
        train(small_config(class_counts=((7, 33),)), tiny_data_dir, tmp_path, device="cpu", progress=quiet)


@pytest.mark.parametrize("variant", [
    {"conditional": True},
    {"minibatch_std": True},
    {"generator_loss": "saturating"},
    {"label_smoothing": 0.1},
    {"conditional": True, "minibatch_std": True, "label_smoothing": 0.2, "class_counts": ((2, 32), (5, 16))},
])
def test_variant_resume_equals_unbroken_run(tiny_data_dir, tmp_path, variant):
    unbroken, broken = tmp_path / "unbroken", tmp_path / "broken"

    train(small_config(epochs=2, **variant), tiny_data_dir, unbroken, device="cpu", progress=quiet)
    train(small_config(epochs=1, **variant), tiny_data_dir, broken, device="cpu", progress=quiet)
    train(small_config(epochs=2, **variant), tiny_data_dir, broken, device="cpu", resume=broken / "checkpoint.pt",
          progress=quiet)

    assert (unbroken / "losses.csv").read_bytes() == (broken / "losses.csv").read_bytes()
    assert (unbroken / "samples_final.png").read_bytes() == (broken / "samples_final.png").read_bytes()


@pytest.mark.parametrize("variant", [
    {"conditional": True},
    {"minibatch_std": True},
    {"generator_loss": "saturating"},
    {"label_smoothing": 0.1},
])
def test_variant_changes_training(tiny_data_dir, tmp_path, variant):
    train(small_config(), tiny_data_dir, tmp_path / "plain", device="cpu", progress=quiet)
    train(small_config(**variant), tiny_data_dir, tmp_path / "variant", device="cpu", progress=quiet)

    plain = (tmp_path / "plain" / "losses.csv").read_bytes()
    assert plain != (tmp_path / "variant" / "losses.csv").read_bytes()


@pytest.mark.parametrize("saved, requested, field", [
    ({"conditional": True}, {}, "conditional"),
    ({}, {"conditional": True}, "conditional"),
    ({"minibatch_std": True}, {}, "minibatch_std"),
    ({}, {"generator_loss": "saturating"}, "generator_loss"),
    ({"label_smoothing": 0.1}, {}, "label_smoothing"),
    ({"class_counts": ((1, 20),)}, {"class_counts": ((1, 21),)}, "class_counts"),
])
def test_resume_rejects_other_variant(tiny_data_dir, tmp_path, saved, requested, field):
    train(small_config(**saved), tiny_data_dir, tmp_path, device="cpu", progress=quiet)

    with pytest.raises(CheckpointError, match=field):
        train(small_config(epochs=2, **requested), tiny_data_dir, tmp_path, device="cpu",
              resume=tmp_path / "checkpoint.pt", progress=quiet)


def test_cli_resume_takes_settings_from_checkpoint(tiny_data_dir, tmp_path):
    first = ["--data-dir", str(tiny_data_dir), "--out-dir", str(tmp_path), "--device", "cpu", "--epochs", "1",
             "--conditional", "--z-dim", "8", "--g-hidden", "16", "--d-hidden", "16", "--batch-size", "32",
             "--num-samples", "10"]
    assert main(first) == 0

    status = main(["--data-dir", str(tiny_data_dir), "--device", "cpu", "--epochs", "2",
                   "--resume", str(tmp_path / "checkpoint.pt")])

    assert status == 0
    saved = read_checkpoint(tmp_path / "checkpoint.pt")
    assert saved["epoch"] == 2
    assert saved["config"]["conditional"] is True
    assert tuple(saved["config"]["g_hidden"]) == (16,)
    assert saved["config"]["batch_size"] == 32


def test_cli_resume_rejects_given_other_setting(tiny_data_dir, tmp_path, capsys):
    arguments = ["--data-dir", str(tiny_data_dir), "--out-dir", str(tmp_path), "--g-hidden", "16", "--d-hidden", "16",
                 "--device", "cpu", "--z-dim", "8"]
    assert main([*arguments, "--epochs", "1"]) == 0

    with pytest.raises(SystemExit) as exit_info:
        main([*arguments, "--epochs", "2", "--z-dim", "9", "--resume", str(tmp_path / "checkpoint.pt")])

    assert exit_info.value.code == 2
    assert "z_dim: checkpoint 8, requested 9" in capsys.readouterr().err


def test_subset_larger_than_data_warns(tiny_data_dir, caplog):
    config = small_config(subset=1_000)

    with caplog.at_level(logging.WARNING, logger="gan_vignette"):
        data, labels, _ = load_training_set(config, tiny_data_dir, torch.device("cpu"))

    assert len(data) == 320
    assert len(labels) == 320
    assert "1,000 images is larger than the 320 training images" in caplog.text


def test_cli_resume_without_epochs_left_exits_2(tiny_data_dir, tmp_path, capsys):
    arguments = ["--data-dir", str(tiny_data_dir), "--out-dir", str(tmp_path), "--g-hidden", "16", "--d-hidden", "16",
                 "--device", "cpu", "--z-dim", "8"]
    assert main([*arguments, "--epochs", "2"]) == 0
    checkpoint = tmp_path / "checkpoint.pt"
    saved_bytes = checkpoint.read_bytes()

    for epochs in ("2", "1"):
        with pytest.raises(SystemExit) as exit_info:
            main([*arguments, "--epochs", epochs, "--resume", str(checkpoint)])

        assert exit_info.value.code == 2
        message = capsys.readouterr().err
        assert "--epochs" in message
        assert "already trained 2 epochs" in message
    assert checkpoint.read_bytes() == saved_bytes


def test_checkpoint_without_variant_fields_resumes(tiny_data_dir, tmp_path):
    # Checkpoints written before the experiment options existed lack their fields; the defaults apply.
    train(small_config(), tiny_data_dir, tmp_path, device="cpu", progress=quiet)
    path = tmp_path / "checkpoint.pt"
    checkpoint = torch.load(path, weights_only=True)
    for name in ("generator_loss", "label_smoothing", "minibatch_std", "conditional", "class_counts"):
        del checkpoint["config"][name]
    torch.save(checkpoint, path)

    state = train(small_config(epochs=2), tiny_data_dir, tmp_path, device="cpu", resume=path, progress=quiet)

    assert state.epoch == 2


def test_conditional_grid_one_class_per_column(tiny_data_dir, tmp_path):
    from PIL import Image

    train(small_config(conditional=True, num_samples=20), tiny_data_dir, tmp_path, device="cpu", progress=quiet)

    width, height = Image.open(tmp_path / "samples_final.png").size
    cell = 28 + gan_outputs.GRID_PADDING
    assert width == 10 * cell + gan_outputs.GRID_PADDING
    assert height == 2 * cell + gan_outputs.GRID_PADDING


def test_epoch_callback_called_every_epoch(tiny_data_dir, tmp_path):
    seen = []

    train(small_config(epochs=3), tiny_data_dir, tmp_path, device="cpu", progress=quiet,
          epoch_callback=lambda state: seen.append((state.epoch, state.step)))

    assert seen == [(0, 0), (1, 10), (2, 20), (3, 30)]


def test_epoch_callback_random_draws_keep_run(tiny_data_dir, tmp_path):
    def draw_random_numbers(state):
        torch.randn(1000)
        torch.randperm(50)

    train(small_config(epochs=2), tiny_data_dir, tmp_path / "plain", device="cpu", progress=quiet)
    train(small_config(epochs=2), tiny_data_dir, tmp_path / "callback", device="cpu", progress=quiet,
          epoch_callback=draw_random_numbers)

    plain = (tmp_path / "plain" / "losses.csv").read_bytes()
    assert plain == (tmp_path / "callback" / "losses.csv").read_bytes()


@pytest.mark.parametrize("field, value, message", [
    ("generator_loss", "minimax", "generator_loss 'minimax' is invalid"),
    ("label_smoothing", 1.0, "label_smoothing 1.0 is invalid"),
    ("label_smoothing", -0.1, "label_smoothing -0.1 is invalid"),
    ("class_counts", ((10, 5),), "class_counts label 10 is invalid"),
    ("class_counts", ((3, 0),), "class_counts count 0 for class 3 is invalid"),
    ("class_counts", ((3, 5), (3, 6)), r"class_counts lists the classes \[3\] more than once"),
    ("class_counts", (), "class_counts is empty"),
])
def test_invalid_experiment_config_rejected(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_class_counts_with_subset_rejected():
    with pytest.raises(ValueError, match="class_counts and subset cannot be combined"):
        TrainConfig(subset=100, class_counts=((1, 10),))


INVALID_EXPERIMENT_OPTIONS = [
    (["--generator-loss", "minimax"], "--generator-loss"),
    (["--label-smoothing", "1"], "--label-smoothing"),
    (["--label-smoothing", "-0.1"], "--label-smoothing"),
    (["--label-smoothing", "much"], "--label-smoothing"),
    (["--class-counts", "7"], "--class-counts"),
    (["--class-counts", "10:5"], "--class-counts"),
    (["--class-counts", "7:0"], "--class-counts"),
    (["--class-counts", "seven:5"], "--class-counts"),
    (["--class-counts", "1:450", "-1:50"], "--class-counts"),
]


@pytest.mark.parametrize("arguments, option", INVALID_EXPERIMENT_OPTIONS)
def test_invalid_experiment_option_exits_2(arguments, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)

    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert option in message
    assert arguments[-1] in message


def test_class_counts_help_names_allowed_values(capsys):
    with pytest.raises(SystemExit):
        main(["--class-counts", "7:x"])

    assert "LABEL:COUNT with a class label in 0..9 and a count >= 1" in capsys.readouterr().err


def test_help_states_each_default_once(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])

    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines; compare word by word
    assert "(default: 60)" in text  # --epochs
    assert "noise (default: 0)" in text  # --seed, whose default 0 equals False
    assert "(default: None)" not in text
    assert "(default: False)" not in text
    assert "(default: all)" in text  # --subset states its default in words
    assert "(default: all) (default:" not in text


def test_duplicate_class_counts_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--class-counts", "7:5", "7:6"])

    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "--class-counts" in message
    assert "7:5 7:6" in message
    assert "[7]" in message


def test_class_counts_with_subset_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--class-counts", "1:450", "7:50", "--subset", "500"])

    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "--class-counts" in message
    assert "--subset 500" in message


def test_class_counts_above_available_exits_1(tiny_data_dir, tmp_path, capsys):
    status = main(["--data-dir", str(tiny_data_dir), "--out-dir", str(tmp_path), "--class-counts", "1:40",
                   "--device", "cpu"])

    assert status == 1
    assert "Class 1 has only 32 training images" in capsys.readouterr().err


def test_command_line_experiment_options(tiny_data_dir, tmp_path):
    status = main(["--data-dir", str(tiny_data_dir), "--out-dir", str(tmp_path), "--epochs", "1",
                   "--g-hidden", "16", "--d-hidden", "16", "--device", "cpu", "--conditional", "--minibatch-std",
                   "--generator-loss", "saturating", "--label-smoothing", "0.1", "--class-counts", "1:30", "7:10"])

    assert status == 0
    config = json.loads((tmp_path / "summary.json").read_text())["config"]
    assert config["conditional"] is True
    assert config["minibatch_std"] is True
    assert config["generator_loss"] == "saturating"
    assert config["label_smoothing"] == 0.1
    assert config["class_counts"] == [[1, 30], [7, 10]]
