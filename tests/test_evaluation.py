import json
import logging
import math
import shutil

import gan_evaluation
import numpy as np
import pytest
import scipy.linalg
import torch
from gan_data import load_images, to_training_tensor
from gan_evaluation import (
    ClassifierCacheError,
    ClassifierSettings,
    baseline_images,
    class_coverage,
    classifier_accuracy,
    classifier_path,
    data_fingerprint,
    evaluate_generator,
    frechet_distance,
    frechet_distance_of_features,
    gaussian_statistics,
    kl_divergence,
    load_or_train_classifier,
    main,
    nearest_neighbors,
    parzen_evaluation,
    parzen_log_likelihoods,
    prepare_reference,
    read_cached_classifier,
    train_classifier,
)
from gan_models import sample_images
from gan_train_script import TrainConfig, train
from matplotlib.figure import Figure
from tiny_idx import write_tiny_dataset

# Enough steps for the tiny bar images (320 training images), where the default settings give 6 steps.
TINY_SETTINGS = ClassifierSettings(epochs=8, batch_size=32)


@pytest.fixture(scope="session")
def tiny_reference(tiny_data_dir, tmp_path_factory):
    return prepare_reference("mnist", tiny_data_dir, tmp_path_factory.mktemp("tiny-cache"),
                             classifier_settings=TINY_SETTINGS)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_data_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tiny-run")
    config = TrainConfig(epochs=1, batch_size=32, g_hidden=(32, 64), d_hidden=(64, 32), z_dim=8, num_samples=16)
    train(config, tiny_data_dir, run_dir, device="cpu", progress=lambda line: None)
    return run_dir / "checkpoint.pt"


def gaussian_log_density(x, mean, sigma):
    squared = float(((x - mean) ** 2).sum())
    return -squared / (2 * sigma**2) - len(x) / 2 * math.log(2 * math.pi * sigma**2)


# ---- Parzen window ----

def test_parzen_single_point_is_gaussian():
    rng = np.random.default_rng(0)
    sample = rng.random(784)
    point = rng.random(784)

    values = parzen_log_likelihoods(torch.tensor(sample[None]), torch.tensor(point[None]), [0.2, 0.5])

    assert values.shape == (2, 1)
    assert values[0, 0] == pytest.approx(gaussian_log_density(point, sample, 0.2), rel=1e-6)
    assert values[1, 0] == pytest.approx(gaussian_log_density(point, sample, 0.5), rel=1e-6)


def test_parzen_two_samples_average_densities():
    samples = np.array([[0.0, 0.0], [1.0, 0.5]])
    point = np.array([0.3, 0.1])
    sigma = 0.4
    expected = math.log(0.5 * sum(math.exp(gaussian_log_density(point, sample, sigma)) for sample in samples))

    values = parzen_log_likelihoods(torch.tensor(samples), torch.tensor(point[None]), [sigma])

    assert values[0, 0] == pytest.approx(expected, rel=1e-6)


def test_parzen_far_point_stays_finite():
    # exp(-784 / (2 * 0.01)) underflows to 0; the log-sum-exp must not.
    samples = torch.zeros(3, 784)
    point = torch.ones(1, 784)

    value = parzen_log_likelihoods(samples, point, [0.1])[0, 0]

    assert math.isfinite(value)
    assert value == pytest.approx(gaussian_log_density(np.ones(784), np.zeros(784), 0.1), rel=1e-6)


def test_parzen_chunks_do_not_change_result():
    generator = torch.Generator().manual_seed(0)
    samples = torch.rand(40, 784, generator=generator)
    data = torch.rand(25, 784, generator=generator)

    whole = parzen_log_likelihoods(samples, data, [0.1, 0.3], chunk_rows=500)
    chunked = parzen_log_likelihoods(samples, data, [0.1, 0.3], chunk_rows=7)

    # The float32 matrix product may round differently for other block shapes (about 1e-6 relative).
    np.testing.assert_allclose(chunked, whole, rtol=1e-5)


def test_parzen_sigma_follows_validation():
    samples = torch.tensor([[0.0], [10.0]])
    near = torch.tensor([[0.0], [10.0]])  # on the samples: the narrowest kernel fits best
    far = torch.tensor([[2.0], [8.0]])  # 2 away from both: the widest kernel fits best
    test = torch.tensor([[1.0], [9.0], [5.0]])

    sharp = parzen_evaluation(samples, near, test)
    wide = parzen_evaluation(samples, far, test)

    assert sharp.sigma == pytest.approx(0.1)
    assert wide.sigma == pytest.approx(1.0)
    assert len(sharp.validation_means) == 10


def test_parzen_standard_error_formula():
    samples = torch.tensor([[0.0], [1.0]])
    test = torch.tensor([[0.2], [0.5], [3.0], [-1.0]])

    result = parzen_evaluation(samples, samples, test)

    values = parzen_log_likelihoods(samples, test, [result.sigma])[0]
    assert result.mean == pytest.approx(values.mean())
    assert result.standard_error == pytest.approx(values.std() / 2.0)


# ---- Fréchet distance ----

def random_covariance(rng, dimensions):
    factor = rng.normal(size=(dimensions, dimensions))
    return factor @ factor.T / dimensions + 0.1 * np.eye(dimensions)


def test_frechet_identical_is_zero():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(500, 16))

    distance = frechet_distance_of_features(features, features)

    assert distance == pytest.approx(0.0, abs=1e-9)


def test_frechet_shift_is_squared_norm():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(400, 8)) @ rng.normal(size=(8, 8))
    shift = rng.normal(size=8)

    distance = frechet_distance_of_features(features, features + shift)

    assert distance == pytest.approx(float(shift @ shift), rel=1e-9)


def test_frechet_matches_scipy_sqrtm():
    rng = np.random.default_rng(2)
    mean1, mean2 = rng.normal(size=12), rng.normal(size=12)
    cov1, cov2 = random_covariance(rng, 12), random_covariance(rng, 12)
    root = scipy.linalg.sqrtm(cov1 @ cov2).real
    expected = np.sum((mean1 - mean2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(root)

    distance = frechet_distance(mean1, cov1, mean2, cov2)

    assert isinstance(distance, float)
    assert distance == pytest.approx(expected, rel=1e-8)


def test_frechet_singular_covariance_is_real():
    # 5 samples in 20 dimensions: both covariances have rank 4.
    rng = np.random.default_rng(3)
    first, second = rng.normal(size=(5, 20)), rng.normal(size=(5, 20))

    distance = frechet_distance(*gaussian_statistics(first), *gaussian_statistics(second))

    assert isinstance(distance, float)
    assert math.isfinite(distance)
    assert distance > 0


# ---- Class coverage ----

def test_kl_identical_is_zero():
    assert kl_divergence([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(0.0, abs=1e-15)


def test_kl_one_class_against_uniform():
    assert kl_divergence([0, 0, 1, 0], [1, 1, 1, 1]) == pytest.approx(math.log(4))


def test_kl_two_classes_closed_form():
    expected = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)

    assert kl_divergence([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected)


def test_kl_empty_reference_class_uses_epsilon():
    expected = 0.5 * math.log(0.5 / 1.0) + 0.5 * math.log(0.5 / 1e-10)

    assert kl_divergence([1, 1], [1, 0], epsilon=1e-10) == pytest.approx(expected)


def test_kl_rejects_negative_values():
    with pytest.raises(ValueError, match="non-negative"):
        kl_divergence([0.5, -0.5], [0.5, 0.5])


def test_coverage_counts_and_threshold():
    # 100 samples: class 9 receives exactly 1% and counts, class 8 receives none.
    predicted = np.array([0] * 91 + [1] * 8 + [9])
    probabilities = np.full((100, 10), 0.02)
    probabilities[np.arange(100), predicted] = 0.82

    coverage = class_coverage(probabilities, np.full(10, 0.1))

    assert coverage.counts == [91, 8, 0, 0, 0, 0, 0, 0, 0, 1]
    assert coverage.classes_covered == 3
    assert coverage.mean_top_probability == pytest.approx(0.82)


def test_coverage_kl_direction_generated_first():
    probabilities = np.zeros((50, 10))
    probabilities[:, 4] = 1.0

    coverage = class_coverage(probabilities, np.full(10, 0.1))

    # KL(generated || test) = log 10; the reverse direction would be about 18 with epsilon 1e-10.
    assert coverage.kl_divergence == pytest.approx(math.log(10))


def test_one_class_generator_covers_one_class(tiny_reference, tiny_data_dir):
    train_set = load_images("mnist", tiny_data_dir, train=True)
    threes = to_training_tensor(train_set.images[train_set.labels == 3])

    result = evaluate_generator(threes, "mnist", reference=tiny_reference, num_samples=len(threes),
                                memorization_samples=10)

    assert tiny_reference.classifier.test_accuracy == 1.0
    assert result.coverage.classes_covered == 1
    assert result.coverage.counts[3] == len(threes)
    assert result.coverage.kl_divergence == pytest.approx(math.log(10))


# ---- Reference classifier and its cache ----

def tiny_splits(data_dir):
    return load_images("mnist", data_dir, train=True), load_images("mnist", data_dir, train=False)


def fingerprint_of(image_set):
    return data_fingerprint(image_set.images, image_set.labels)


def test_classifier_training_deterministic(tiny_data_dir):
    train_set, _ = tiny_splits(tiny_data_dir)
    images = to_training_tensor(train_set.images)
    settings = ClassifierSettings(epochs=1, batch_size=32)

    first = train_classifier(images, train_set.labels, settings)
    second = train_classifier(images, train_set.labels, settings)

    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name


def test_classifier_training_keeps_global_rng(tiny_data_dir):
    train_set, _ = tiny_splits(tiny_data_dir)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)

    train_classifier(to_training_tensor(train_set.images), train_set.labels, ClassifierSettings(epochs=1))

    assert torch.equal(torch.rand(3), expected)


def test_cached_classifier_reused(tiny_data_dir, tmp_path):
    train_set, test_set = tiny_splits(tiny_data_dir)

    trained = load_or_train_classifier("mnist", train_set, test_set, tmp_path, settings=TINY_SETTINGS)
    cached = load_or_train_classifier("mnist", train_set, test_set, tmp_path, settings=TINY_SETTINGS)

    assert not trained.from_cache
    assert cached.from_cache
    assert cached.path == tmp_path / "classifiers" / f"mnist-{fingerprint_of(train_set)}-cnn.pt"
    assert cached.test_accuracy == trained.test_accuracy
    for name, tensor in trained.model.state_dict().items():
        assert torch.equal(tensor, cached.model.state_dict()[name]), name


def test_cache_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "from-env"))

    expected = tmp_path / "from-env" / "classifiers" / "fashion-mnist-0123456789abcdef-cnn.pt"
    assert classifier_path("fashion-mnist", "0123456789abcdef") == expected
    expected = tmp_path / "argument" / "classifiers" / "mnist-0123456789abcdef-cnn.pt"
    assert classifier_path("mnist", "0123456789abcdef", tmp_path / "argument") == expected


def test_classifiers_of_other_files_kept_apart(tiny_data_dir, tmp_path):
    # The tests' tiny files and the real data share one cache folder in a checkout. A classifier
    # trained on one copy of MNIST must not replace the classifier of another.
    first = prepare_reference("mnist", tiny_data_dir, tmp_path, classifier_settings=TINY_SETTINGS)
    original = first.classifier.path.read_bytes()
    other_data = tmp_path / "other-data"
    write_tiny_dataset(other_data, "MNIST", train_count=400, test_count=80)

    other = prepare_reference("mnist", other_data, tmp_path, classifier_settings=TINY_SETTINGS)
    again = prepare_reference("mnist", tiny_data_dir, tmp_path, classifier_settings=TINY_SETTINGS)

    assert not other.classifier.from_cache
    assert other.classifier.path != first.classifier.path
    assert other.classifier.path.parent == first.classifier.path.parent
    assert again.classifier.from_cache
    assert again.classifier.path.read_bytes() == original


def test_other_dataset_classifier_rejected(tiny_data_dir, tmp_path, caplog):
    train_set, test_set = tiny_splits(tiny_data_dir)
    load_or_train_classifier("mnist", train_set, test_set, tmp_path, settings=TINY_SETTINGS)
    fingerprint = fingerprint_of(train_set)
    fashion_path = classifier_path("fashion-mnist", fingerprint, tmp_path)
    fashion_path.write_bytes(classifier_path("mnist", fingerprint, tmp_path).read_bytes())

    with pytest.raises(ClassifierCacheError, match="trained on 'mnist', not on 'fashion-mnist'"):
        read_cached_classifier(fashion_path, "fashion-mnist")

    with caplog.at_level(logging.WARNING, logger="gan_vignette"):
        retrained = load_or_train_classifier("fashion-mnist", train_set, test_set, tmp_path, settings=TINY_SETTINGS)
    assert not retrained.from_cache
    assert "not on 'fashion-mnist'" in caplog.text
    assert torch.load(fashion_path, weights_only=True)["dataset"] == "fashion-mnist"


def test_corrupt_classifier_rejected(tiny_data_dir, tmp_path, caplog):
    train_set, test_set = tiny_splits(tiny_data_dir)
    load_or_train_classifier("mnist", train_set, test_set, tmp_path, settings=TINY_SETTINGS)
    path = classifier_path("mnist", fingerprint_of(train_set), tmp_path)
    path.write_bytes(path.read_bytes()[:3000])

    with pytest.raises(ClassifierCacheError, match="could not be read"):
        read_cached_classifier(path, "mnist")

    with caplog.at_level(logging.WARNING, logger="gan_vignette"):
        retrained = load_or_train_classifier("mnist", train_set, test_set, tmp_path, settings=TINY_SETTINGS)
    assert not retrained.from_cache
    assert "could not be read" in caplog.text
    read_cached_classifier(path, "mnist")  # the retrained file replaced the corrupt one


def test_classifier_from_other_files_rejected(tiny_data_dir, tmp_path):
    train_set, test_set = tiny_splits(tiny_data_dir)
    path = load_or_train_classifier("mnist", train_set, test_set, tmp_path, settings=TINY_SETTINGS).path

    with pytest.raises(ClassifierCacheError, match="other mnist files"):
        read_cached_classifier(path, "mnist", fingerprint="0123456789abcdef")
    with pytest.raises(ClassifierCacheError, match="settings"):
        read_cached_classifier(path, "mnist", settings=ClassifierSettings(epochs=99))


def test_foreign_file_rejected(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {}}, path)

    with pytest.raises(ClassifierCacheError, match="not a classifier file"):
        read_cached_classifier(path, "mnist")


def test_data_folder_not_written(tiny_data_dir, tiny_reference):
    before = sorted(path.relative_to(tiny_data_dir) for path in tiny_data_dir.rglob("*"))

    prepare_reference("mnist", tiny_data_dir, tiny_reference.classifier.path.parent.parent,
                      classifier_settings=TINY_SETTINGS)

    assert sorted(path.relative_to(tiny_data_dir) for path in tiny_data_dir.rglob("*")) == before


# ---- Memorization ----

def test_nearest_neighbors_finds_copies():
    generator = torch.Generator().manual_seed(0)
    references = torch.rand(300, 784, generator=generator)
    queries = references[[17, 4, 250]]

    distances, indices = nearest_neighbors(queries, references, chunk_rows=2)

    assert indices.tolist() == [17, 4, 250]
    assert distances.tolist() == [0.0, 0.0, 0.0]


def test_nearest_neighbors_distance_exact():
    references = torch.zeros(2, 784)
    references[1] = 1.0
    queries = torch.full((1, 784), 0.25)

    distances, indices = nearest_neighbors(queries, references)

    assert indices.tolist() == [0]
    assert distances[0] == pytest.approx(0.25 * 28)


def test_training_images_flagged_as_copies(tiny_reference):
    copies = tiny_reference.train_images[:60]

    result = evaluate_generator(copies, "mnist", reference=tiny_reference, num_samples=60, memorization_samples=60)

    summary = result.memorization.summary()
    assert summary["sample_median"] == 0.0
    assert summary["fraction_below_threshold"] == 1.0
    assert summary["test_median"] > 0.0


def test_memorization_figure(tiny_reference):
    noise = torch.rand(30, 1, 28, 28) * 2 - 1

    result = evaluate_generator(noise, "mnist", reference=tiny_reference, num_samples=30, memorization_samples=30)
    figure = result.plot_memorization(count=5)

    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2 * 5 + 1


# ---- Whole evaluation ----

def test_evaluation_of_checkpoint(tiny_checkpoint, tiny_reference):
    result = evaluate_generator(tiny_checkpoint, reference=tiny_reference, num_samples=100, memorization_samples=20)

    data = json.loads(json.dumps(result.to_dict()))
    assert data["dataset"] == "mnist"
    assert data["num_samples"] == 100
    assert sum(data["class_coverage"]["counts"]) == 100
    assert data["parzen"]["num_samples"] == 100
    assert data["parzen"]["num_test"] == 80
    assert data["memorization"]["num_samples"] == 20
    assert set(data["frechet_references"]) == {"training-images", "uniform-noise"}
    assert "(epoch 1)" in data["name"]


def test_evaluation_of_conditional_checkpoint(tiny_data_dir, tiny_reference, tmp_path):
    config = TrainConfig(epochs=1, batch_size=32, g_hidden=(32, 64), d_hidden=(64, 32), z_dim=8, num_samples=16,
                         conditional=True)
    train(config, tiny_data_dir, tmp_path, device="cpu", progress=lambda line: None)

    generator, _ = gan_evaluation.load_generator(tmp_path / "checkpoint.pt")
    result = evaluate_generator(tmp_path / "checkpoint.pt", reference=tiny_reference, num_samples=30,
                                memorization_samples=10)

    assert generator.num_classes == 10
    assert sum(result.coverage.counts) == 30
    # The classes are requested in turn: sample i is drawn for digit i % 10 from the seed's latent vectors.
    z = torch.randn(12, 8, generator=torch.Generator().manual_seed(5))
    expected = sample_images(generator, z, torch.arange(12) % 10)
    assert torch.equal(gan_evaluation.generate_images(generator, 12, seed=5), expected)


def test_same_seed_same_result(tiny_checkpoint, tiny_reference):
    first = evaluate_generator(tiny_checkpoint, reference=tiny_reference, num_samples=50, seed=3)
    second = evaluate_generator(tiny_checkpoint, reference=tiny_reference, num_samples=50, seed=3)

    assert first.frechet_distance == second.frechet_distance
    assert first.parzen.mean == second.parzen.mean


def test_images_out_of_range_rejected(tiny_reference):
    uint8_scale = torch.rand(10, 1, 28, 28) * 255

    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        evaluate_generator(uint8_scale, reference=tiny_reference)


def test_images_wrong_shape_rejected(tiny_reference):
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        evaluate_generator(torch.zeros(10, 28, 28), reference=tiny_reference)


def test_checkpoint_dataset_mismatch_rejected(tiny_checkpoint, tiny_reference):
    with pytest.raises(ValueError, match="trained on mnist"):
        evaluate_generator(tiny_checkpoint, "fashion-mnist", reference=tiny_reference)


# ---- Command line ----

def test_cli_writes_json_and_figure(tiny_checkpoint, tiny_data_dir, tiny_reference, tmp_path, capsys):
    cache_dir = tiny_reference.classifier.path.parent.parent
    out_dir = tmp_path / "evaluation"

    status = main([str(tiny_checkpoint), "--data-dir", str(tiny_data_dir), "--cache-dir", str(cache_dir),
                   "--num-samples", "100", "--memorization-samples", "20", "--out-dir", str(out_dir)])

    assert status == 0
    report = json.loads((out_dir / "evaluation.json").read_text())
    assert report["command"].startswith("gan-evaluate ")
    assert report["num_samples"] == 100
    assert "cores" in report["machine"]
    assert (out_dir / "memorization.png").stat().st_size > 0
    assert "Parzen log-likelihood" in capsys.readouterr().out


def test_cli_baseline_training_images(tiny_data_dir, tiny_reference, tmp_path):
    cache_dir = tiny_reference.classifier.path.parent.parent

    status = main(["--baseline", "training-images", "--data-dir", str(tiny_data_dir), "--cache-dir", str(cache_dir),
                   "--num-samples", "100", "--memorization-samples", "50", "--out-dir", str(tmp_path)])

    assert status == 0
    report = json.loads((tmp_path / "evaluation.json").read_text())
    assert report["memorization"]["fraction_below_threshold"] == 1.0


def test_cli_memorization_default_shrinks(tiny_data_dir, tiny_reference, tmp_path):
    # The default of 2,000 compared samples must shrink to --num-samples rather than be rejected as too large.
    cache_dir = tiny_reference.classifier.path.parent.parent

    status = main(["--baseline", "uniform-noise", "--data-dir", str(tiny_data_dir), "--cache-dir", str(cache_dir),
                   "--num-samples", "40", "--out-dir", str(tmp_path)])

    assert status == 0
    assert json.loads((tmp_path / "evaluation.json").read_text())["memorization"]["num_samples"] == 40


def test_small_training_set_holds_out_validation(tiny_reference):
    # 320 tiny training images: the last fifth (64) are the Parzen validation images, never samples.
    assert tiny_reference.validation_start == 256
    assert len(tiny_reference.parzen_validation) == 64
    assert len(baseline_images(tiny_reference, "training-images", 256)) == 256


def test_frechet_floor_from_small_training_set(tiny_reference, caplog):
    # The offline MNIST copy has fewer training images than the default 10,000 samples.
    pool = tiny_reference.validation_start

    with caplog.at_level(logging.WARNING, logger="gan_vignette"):
        references = tiny_reference.frechet_references(pool + 180, seed=7)

    floor_features = tiny_reference.features(baseline_images(tiny_reference, "training-images", pool, seed=7))
    expected = frechet_distance(*gaussian_statistics(floor_features), tiny_reference.test_mean,
                                tiny_reference.test_covariance)
    assert references["training-images"] == pytest.approx(expected)
    assert math.isfinite(references["uniform-noise"])
    assert f"Only {pool:,} training images" in caplog.text


def test_cli_baseline_from_small_training_set(tiny_data_dir, tiny_reference, tmp_path, caplog):
    cache_dir = tiny_reference.classifier.path.parent.parent
    pool = tiny_reference.validation_start

    with caplog.at_level(logging.WARNING, logger="gan_vignette"):
        status = main(["--baseline", "training-images", "--data-dir", str(tiny_data_dir), "--cache-dir",
                       str(cache_dir), "--num-samples", str(pool + 100), "--memorization-samples", "50",
                       "--out-dir", str(tmp_path)])

    assert status == 0
    assert json.loads((tmp_path / "evaluation.json").read_text())["num_samples"] == pool
    assert f"training-images baseline (the other {len(tiny_reference.train_images) - pool:,} are" in caplog.text
    assert f"so it uses {pool:,} instead of {pool + 100:,}" in caplog.text


@pytest.mark.parametrize("arguments, expected", [
    (["--baseline", "uniform-noise", "--out-dir", "x", "--num-samples", "1"], "--num-samples: invalid value 1"),
    (["--baseline", "uniform-noise", "--out-dir", "x", "--seed", "-3"], "--seed: invalid value -3"),
    (["--baseline", "uniform-noise", "--out-dir", "x", "--memorization-samples", "abc"], "'abc'"),
    (["--baseline", "uniform-noise", "--out-dir", "x", "--num-samples", "10", "--memorization-samples", "20"],
     "--memorization-samples: invalid value 20: expected at most --num-samples (10)"),
    (["--baseline", "uniform-noise"], "--out-dir: required with --baseline"),
    (["--baseline", "faces", "--out-dir", "x"], "--baseline: invalid choice: 'faces'"),
    ([], "exactly one of CHECKPOINT, --images or --baseline (got none)"),
    (["missing/checkpoint.pt"], "CHECKPOINT: file missing/checkpoint.pt not found"),
    (["--images", "missing.pt"], "--images: file missing.pt not found"),
])
def test_cli_rejects_invalid_options(arguments, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)

    assert exit_info.value.code == 2
    assert expected in capsys.readouterr().err


def test_cli_rejects_images_in_wrong_range(tmp_path, capsys):
    path = tmp_path / "samples.pt"
    torch.save(torch.rand(5, 1, 28, 28) * 255, path)

    with pytest.raises(SystemExit) as exit_info:
        main(["--images", str(path)])

    assert exit_info.value.code == 2
    assert "--images" in capsys.readouterr().err


def test_cli_rejects_other_dataset(tiny_checkpoint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tiny_checkpoint), "--dataset", "fashion-mnist"])

    assert exit_info.value.code == 2
    assert "trained on 'mnist'" in capsys.readouterr().err


def test_cli_rejects_truncated_checkpoint(tiny_checkpoint, tmp_path, capsys):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_checkpoint.read_bytes()[:5000])

    with pytest.raises(SystemExit) as exit_info:
        main([str(truncated)])

    assert exit_info.value.code == 2
    assert "argument CHECKPOINT: Checkpoint" in capsys.readouterr().err


# ---- Real data ----

def test_real_mnist_classifier_and_baselines(real_data_dir, tmp_path):
    # A classifier already cached in the checkout is copied, so that the test trains one only when
    # none fits (about 40 s on an idle 2-core CPU). A copy that does not fit is retrained as usual.
    fingerprint = fingerprint_of(load_images("mnist", real_data_dir, train=True))
    cached = classifier_path("mnist", fingerprint, gan_evaluation.default_cache_dir())
    if cached.is_file():
        classifier_path("mnist", fingerprint, tmp_path).parent.mkdir(parents=True)
        shutil.copyfile(cached, classifier_path("mnist", fingerprint, tmp_path))

    reference = prepare_reference("mnist", real_data_dir, tmp_path)

    accuracy = classifier_accuracy(reference.classifier.model, reference.test_images, reference.test_labels)
    assert accuracy >= 0.99
    assert reference.classifier.test_accuracy == pytest.approx(accuracy)
    assert reference.validation_start == 50_000
    assert reference.test_class_frequencies.min() > 0.08
    references = reference.frechet_references(2000, seed=0)
    assert references["training-images"] < references["uniform-noise"] / 100
