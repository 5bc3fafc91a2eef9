import math
from types import SimpleNamespace

import gan_evaluation
import numpy as np
import pytest
import torch
from gan_data import load_images, to_training_tensor
from gan_evaluation import ClassifierSettings, prepare_reference
from gan_experiments import (
    CoverageTracker,
    GradientNormRecorder,
    class_rows,
    combine_callbacks,
    cycling_labels,
    epoch_table,
    format_table,
    generate_images,
    images_from_latents,
    interpolate_latents,
    mean_pairwise_distance,
    measure_generator,
    measure_samples,
    probe_generator_loss,
    read_path,
    train_tracked,
    training_class_frequencies,
)
from gan_models import Discriminator, Generator, count_parameters, minibatch_standard_deviation, sample_images
from gan_train_script import (
    TrainConfig,
    build_models,
    grid_class_labels,
    iterate_labelled_batches,
    select_class_counts,
    train,
    training_step,
)

# The tiny bar images need more steps than the classifier's defaults give on 320 images.
TINY_SETTINGS = ClassifierSettings(epochs=8, batch_size=32)


def quiet(line):
    pass


def small_config(**overrides):
    settings = dict(epochs=1, batch_size=32, g_hidden=(32, 64), d_hidden=(64, 32), z_dim=8, num_samples=16)
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def tiny_reference(tiny_data_dir, tmp_path_factory):
    return prepare_reference("mnist", tiny_data_dir, tmp_path_factory.mktemp("cache"),
                             classifier_settings=TINY_SETTINGS)


def frozen_optimizer(module):
    # SGD with learning rate 0 leaves the weights as they are, so a test can compare two steps.
    return torch.optim.SGD(module.parameters(), lr=0.0)


def constant_discriminator(bias, weight_scale=0.0):
    """A discriminator without hidden layers: logit = weights . pixels + bias."""
    discriminator = Discriminator(hidden_dims=(), dropout=0.0)
    with torch.no_grad():
        final = discriminator.net[-1]
        final.weight.copy_(torch.randn(final.weight.shape, generator=torch.Generator().manual_seed(3)) * weight_scale)
        final.bias.fill_(bias)
    return discriminator


# ---- Conditional networks ----

def test_conditional_generator_uses_label():
    torch.manual_seed(0)
    generator = Generator(z_dim=8, hidden_dims=(16,), num_classes=10).eval()
    z = torch.randn(1, 8).repeat(2, 1)

    images = generator(z, torch.tensor([3, 7]))

    assert images.shape == (2, 1, 28, 28)
    assert not torch.allclose(images[0], images[1])


def test_conditional_layer_widths():
    generator = Generator(z_dim=64, hidden_dims=(256, 512), num_classes=10)
    discriminator = Discriminator(hidden_dims=(512, 256), num_classes=10)

    # One-hot labels add 10 inputs to each network's first linear layer.
    assert count_parameters(generator) == 551_952 + 10 * 256
    assert count_parameters(discriminator) == 533_505 + 10 * 512


def test_conditional_networks_need_labels():
    generator = Generator(z_dim=8, hidden_dims=(16,), num_classes=10)
    discriminator = Discriminator(hidden_dims=(16,), num_classes=10)

    with pytest.raises(ValueError, match="pass the class labels"):
        generator(torch.randn(2, 8))
    with pytest.raises(ValueError, match="pass the class labels"):
        discriminator(torch.randn(2, 1, 28, 28))


def test_unconditional_networks_reject_labels():
    with pytest.raises(ValueError, match="unconditional"):
        Generator(z_dim=8, hidden_dims=(16,))(torch.randn(2, 8), torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="unconditional"):
        Discriminator(hidden_dims=(16,))(torch.randn(2, 1, 28, 28), torch.tensor([1, 2]))


def test_label_out_of_range_rejected():
    generator = Generator(z_dim=8, hidden_dims=(16,), num_classes=10)

    with pytest.raises(ValueError, match=r"0\.\.9, got 0\.\.10"):
        generator(torch.randn(2, 8), torch.tensor([0, 10]))


def test_unconditional_weights_unchanged_by_new_options():
    # The plain networks must draw their initial weights exactly as before the options existed.
    torch.manual_seed(0)
    generator, discriminator = build_models(TrainConfig(), torch.device("cpu"))
    torch.manual_seed(0)
    expected_generator = Generator(64, (256, 512))
    expected_discriminator = Discriminator((512, 256), 0.3)

    for network, expected in ((generator, expected_generator), (discriminator, expected_discriminator)):
        for name, tensor in expected.state_dict().items():
            assert torch.equal(network.state_dict()[name], tensor), name


# ---- Minibatch standard deviation ----

def test_minibatch_std_known_value():
    features = torch.tensor([[0.0, 0.0], [2.0, 4.0]])

    column = minibatch_standard_deviation(features, epsilon=0.0)

    # Per-feature standard deviations (population form) are 1 and 2; their mean is 1.5.
    assert column.shape == (2, 1)
    assert torch.allclose(column, torch.full((2, 1), 1.5))


def test_minibatch_std_identical_rows_near_zero():
    features = torch.ones(16, 5) * 3.0

    column = minibatch_standard_deviation(features)

    assert torch.allclose(column, torch.full((16, 1), 1e-4))  # sqrt of the epsilon 1e-8


def test_minibatch_std_logit_depends_on_batch():
    torch.manual_seed(0)
    with_feature = Discriminator(hidden_dims=(16,), dropout=0.0, minibatch_std=True).eval()
    without_feature = Discriminator(hidden_dims=(16,), dropout=0.0).eval()
    image = torch.randn(1, 1, 28, 28)
    batch_a = torch.cat([image, torch.randn(7, 1, 28, 28)])
    batch_b = torch.cat([image, image.repeat(7, 1, 1, 1)])

    assert with_feature.net[-1].in_features == 17
    assert not torch.allclose(with_feature(batch_a)[0], with_feature(batch_b)[0])
    assert torch.allclose(without_feature(batch_a)[0], without_feature(batch_b)[0])


# ---- Training step variants ----

def test_saturating_gradient_smaller_by_odds():
    # For a logit l, d/dl log(1 - sigmoid(l)) = -sigmoid(l) and d/dl -log(sigmoid(l)) = -(1 - sigmoid(l)).
    # With every logit near -5 the saturating gradient is smaller by the odds e^-5 = 0.0067.
    norms = {}
    for loss in ("non-saturating", "saturating"):
        torch.manual_seed(0)
        generator = Generator(z_dim=8, hidden_dims=(16,))
        discriminator = constant_discriminator(bias=-5.0, weight_scale=1e-4)
        optimizer_G = frozen_optimizer(generator)
        recorder = GradientNormRecorder()
        recorder(SimpleNamespace(optimizer_G=optimizer_G))

        training_step(generator, discriminator, optimizer_G, frozen_optimizer(discriminator), torch.zeros(8, 1, 28, 28),
                      z_dim=8, generator_loss=loss)
        recorder.remove()
        norms[loss] = recorder.norms[0]

    assert norms["saturating"] / norms["non-saturating"] == pytest.approx(math.exp(-5.0), rel=0.01)


def test_gradient_norm_probe_matches_training_step():
    norms = {}
    for loss in ("non-saturating", "saturating"):
        torch.manual_seed(0)
        generator = Generator(z_dim=8, hidden_dims=(16,))
        discriminator = constant_discriminator(bias=-5.0, weight_scale=1e-4)
        z = torch.randn(8, 8)

        probe = probe_generator_loss(generator, discriminator, z, loss)
        norms[loss] = probe.gradient_norm

    assert probe.mean_d_of_fake == pytest.approx(1 / (1 + math.exp(5.0)), rel=0.01)
    assert norms["saturating"] / norms["non-saturating"] == pytest.approx(math.exp(-5.0), rel=0.01)


def test_gradient_norm_probe_changes_nothing():
    torch.manual_seed(0)
    generator = Generator(z_dim=8, hidden_dims=(16,)).eval()
    discriminator = Discriminator(hidden_dims=(16,)).train()
    before = {name: tensor.clone() for name, tensor in generator.state_dict().items()}

    probe_generator_loss(generator, discriminator, torch.randn(8, 8), "saturating")

    for name, tensor in generator.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    assert not generator.training
    assert discriminator.training
    assert all(parameter.grad is None for parameter in generator.parameters())


def test_gradient_norm_probe_rejects_unknown_loss():
    generator = Generator(z_dim=8, hidden_dims=(16,))

    with pytest.raises(ValueError, match="minimax"):
        probe_generator_loss(generator, constant_discriminator(bias=0.0), torch.randn(4, 8), "minimax")


def test_saturating_loss_recorded_as_log_one_minus_d():
    torch.manual_seed(0)
    generator = Generator(z_dim=8, hidden_dims=(16,))
    discriminator = constant_discriminator(bias=-2.0)

    record = training_step(generator, discriminator, frozen_optimizer(generator), frozen_optimizer(discriminator),
                           torch.zeros(4, 1, 28, 28), z_dim=8, generator_loss="saturating")

    assert record[1].item() == pytest.approx(math.log(1 - 1 / (1 + math.exp(2.0))), rel=1e-5)


def test_label_smoothing_known_loss():
    # Every logit is 2: BCE(2, target) = softplus(2) - 2 * target.
    torch.manual_seed(0)
    generator = Generator(z_dim=8, hidden_dims=(16,))
    discriminator = constant_discriminator(bias=2.0)
    softplus = math.log1p(math.exp(2.0))

    record = training_step(generator, discriminator, frozen_optimizer(generator), frozen_optimizer(discriminator),
                           torch.zeros(4, 1, 28, 28), z_dim=8, label_smoothing=0.1)

    assert record[0].item() == pytest.approx((softplus - 2.0 * 0.9) + softplus, rel=1e-5)


def test_unknown_generator_loss_rejected():
    generator = Generator(z_dim=8, hidden_dims=(16,))
    discriminator = constant_discriminator(bias=0.0)

    with pytest.raises(ValueError, match="minimax"):
        training_step(generator, discriminator, frozen_optimizer(generator), frozen_optimizer(discriminator),
                      torch.zeros(4, 1, 28, 28), z_dim=8, generator_loss="minimax")


def test_conditional_fakes_get_real_labels():
    # A discriminator that reads only the label: its bias per class is the label itself.
    torch.manual_seed(0)
    generator = Generator(z_dim=8, hidden_dims=(16,), num_classes=10)
    discriminator = Discriminator(hidden_dims=(), dropout=0.0, num_classes=10)
    with torch.no_grad():
        final = discriminator.net[-1]
        final.weight.zero_()
        final.weight[0, 784:] = torch.arange(10, dtype=torch.float32)
        final.bias.zero_()
    labels = torch.tensor([0, 0, 9, 9])

    record = training_step(generator, discriminator, frozen_optimizer(generator), frozen_optimizer(discriminator),
                           torch.zeros(4, 1, 28, 28), z_dim=8, class_labels=labels)

    expected = (0.5 + 0.5 + 2 / (1 + math.exp(-9.0))) / 4  # mean of sigmoid(label) over the batch
    assert record[2].item() == pytest.approx(expected, rel=1e-6)  # D(x)
    assert record[3].item() == pytest.approx(expected, rel=1e-6)  # D(G(z)) with the same labels


# ---- Data selection ----

def test_select_class_counts_first_of_each_class():
    labels = torch.tensor([1, 7, 1, 3, 7, 1, 7, 1])
    images = torch.arange(8).view(8, 1, 1).expand(8, 28, 28)

    chosen_images, chosen_labels = select_class_counts(images, labels, ((1, 2), (7, 3)))

    assert chosen_labels.tolist() == [1, 7, 1, 7, 7]
    assert chosen_images[:, 0, 0].tolist() == [0, 1, 2, 4, 6]  # dataset order


def test_select_class_counts_too_few_rejected():
    labels = torch.tensor([1, 7, 1])

    with pytest.raises(ValueError, match="Class 7 has only 1 training images"):
        select_class_counts(torch.zeros(3, 28, 28), labels, ((7, 2),))


def test_labelled_batches_keep_pairs():
    data = torch.arange(10, dtype=torch.float32).view(10, 1, 1, 1)
    labels = torch.arange(10) * 100

    torch.manual_seed(0)
    batches = list(iterate_labelled_batches(data, labels, 4))

    assert [len(images) for images, _ in batches] == [4, 4, 2]
    for images, batch_labels in batches:
        assert (images.flatten().long() * 100).tolist() == batch_labels.tolist()


def test_labelled_batches_same_order_as_plain():
    from gan_data import iterate_batches

    data = torch.randn(11, 1, 2, 2)
    torch.manual_seed(5)
    plain = list(iterate_batches(data, 4))
    torch.manual_seed(5)
    labelled = [images for images, _ in iterate_labelled_batches(data, torch.zeros(11), 4)]

    assert len(plain) == len(labelled) == 3
    for a, b in zip(plain, labelled):
        assert torch.equal(a, b)


def test_grid_labels_cycle_through_classes():
    labels, columns = grid_class_labels(TrainConfig(conditional=True, num_samples=12), torch.device("cpu"))
    subset_labels, subset_columns = grid_class_labels(
        TrainConfig(conditional=True, num_samples=5, class_counts=((1, 9), (7, 1))), torch.device("cpu"))

    assert labels.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert columns == 10
    assert subset_labels.tolist() == [1, 7, 1, 7, 1]
    assert subset_columns == 2
    assert grid_class_labels(TrainConfig(), torch.device("cpu")) == (None, 8)


# ---- Sampling and labels ----

def test_cycling_labels_and_class_rows():
    assert cycling_labels(12).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert cycling_labels(5, (1, 7)).tolist() == [1, 7, 1, 7, 1]
    assert class_rows((2, 5), 3).tolist() == [2, 2, 2, 5, 5, 5]


def test_generate_images_matches_evaluation_module():
    torch.manual_seed(0)
    generator = Generator(z_dim=8, hidden_dims=(16,))

    ours = generate_images(generator, 20, seed=4)
    theirs = gan_evaluation.generate_images(generator, 20, seed=4)

    assert torch.equal(ours, theirs)


def test_generate_conditional_images_seeded():
    torch.manual_seed(0)
    generator = Generator(z_dim=8, hidden_dims=(16,), num_classes=10)
    generator(torch.randn(4, 8), torch.tensor([0, 1, 2, 3]))  # training-mode pass for BatchNorm statistics
    labels = cycling_labels(30)

    first = generate_images(generator, 30, seed=2, labels=labels, batch_size=7)
    second = generate_images(generator, 30, seed=2, labels=labels)
    other_seed = generate_images(generator, 30, seed=3, labels=labels)

    assert first.shape == (30, 1, 28, 28)
    assert torch.allclose(first, second, atol=1e-6)
    assert not torch.allclose(first, other_seed)


def test_images_from_latents_match_sample_images():
    torch.manual_seed(0)
    generator = Generator(z_dim=8, hidden_dims=(16,))
    z = torch.randn(25, 8)

    assert torch.allclose(images_from_latents(generator, z, batch_size=10), sample_images(generator, z), atol=1e-6)


def test_generate_conditional_label_count_checked():
    generator = Generator(z_dim=8, hidden_dims=(16,), num_classes=10)

    with pytest.raises(ValueError, match="Expected 5 labels"):
        generate_images(generator, 5, labels=torch.zeros(4, dtype=torch.int64))


def test_training_class_frequencies():
    frequencies = training_class_frequencies(((1, 450), (7, 50)))

    assert frequencies[1] == pytest.approx(0.9)
    assert frequencies[7] == pytest.approx(0.1)
    assert frequencies.sum() == pytest.approx(1.0)
    assert len(frequencies) == 10


# ---- Measurements ----

def test_measure_one_class_covers_one(tiny_reference, tiny_data_dir):
    train_set = load_images("mnist", tiny_data_dir, train=True)
    threes = to_training_tensor(train_set.images[train_set.labels == 3])

    measurement = measure_samples(threes, tiny_reference)

    assert measurement.classes_covered == 1
    assert measurement.counts[3] == len(threes)
    assert measurement.kl_divergence == pytest.approx(math.log(10))
    assert measurement.fractions[3] == 1.0


def test_measure_test_images_near_reference(tiny_reference):
    measurement = measure_samples(tiny_reference.test_images, tiny_reference)

    assert measurement.classes_covered == 10
    assert measurement.kl_divergence == pytest.approx(0.0, abs=1e-9)
    assert measurement.frechet_distance == pytest.approx(0.0, abs=1e-6)


def test_measure_generator_equals_measure_samples(tiny_reference):
    torch.manual_seed(0)
    generator = Generator(z_dim=8, hidden_dims=(16,))

    direct = measure_generator(generator, tiny_reference, 60, seed=3)
    by_hand = measure_samples(generate_images(generator, 60, seed=3), tiny_reference)

    assert direct == by_hand


def test_mean_pairwise_distance_known_values():
    black, white = torch.full((1, 1, 28, 28), -1.0), torch.full((1, 1, 28, 28), 1.0)

    assert mean_pairwise_distance(torch.cat([black, white])) == pytest.approx(28.0)
    # Three images, six ordered pairs: four of distance 28 and two of distance 0, so the mean is 56 / 3.
    assert mean_pairwise_distance(torch.cat([black, white, black])) == pytest.approx(56 / 3)
    assert mean_pairwise_distance(black.repeat(5, 1, 1, 1)) == pytest.approx(0.0, abs=1e-6)
    assert mean_pairwise_distance(torch.cat([black, black, white]), max_images=2) == pytest.approx(0.0, abs=1e-6)


def test_mean_pairwise_distance_needs_two_images():
    with pytest.raises(ValueError, match="at least 2 images"):
        mean_pairwise_distance(torch.zeros(1, 1, 28, 28))


def test_measure_with_training_frequencies(tiny_reference, tiny_data_dir):
    train_set = load_images("mnist", tiny_data_dir, train=True)
    ones_and_sevens = to_training_tensor(torch.cat([train_set.images[train_set.labels == 1][:27],
                                                    train_set.images[train_set.labels == 7][:3]]))

    measurement = measure_samples(ones_and_sevens, tiny_reference,
                                  class_frequencies=training_class_frequencies(((1, 9), (7, 1))))

    assert measurement.counts[1] == 27
    assert measurement.counts[7] == 3
    assert measurement.kl_divergence == pytest.approx(0.0, abs=1e-9)


def test_tracker_records_each_epoch(tiny_reference, tiny_data_dir, tmp_path):
    tracker = CoverageTracker(tiny_reference, num_samples=50)

    train(small_config(epochs=2), tiny_data_dir, tmp_path, device="cpu", progress=quiet, epoch_callback=tracker)

    assert [record.epoch for record in tracker.records] == [0, 1, 2]
    assert all(sum(record.counts) == 50 for record in tracker.records)
    assert tracker.column("classes_covered").shape == (3,)


def test_tracker_keeps_training_run(tiny_reference, tiny_data_dir, tmp_path):
    train(small_config(epochs=2), tiny_data_dir, tmp_path / "plain", device="cpu", progress=quiet)
    train(small_config(epochs=2), tiny_data_dir, tmp_path / "tracked", device="cpu", progress=quiet,
          epoch_callback=combine_callbacks(CoverageTracker(tiny_reference, num_samples=50), GradientNormRecorder()))

    plain = (tmp_path / "plain" / "losses.csv").read_bytes()
    assert plain == (tmp_path / "tracked" / "losses.csv").read_bytes()


def test_tracker_every_and_last_epoch(tiny_reference, tiny_data_dir, tmp_path):
    tracker = CoverageTracker(tiny_reference, num_samples=20, every=2)

    train(small_config(epochs=3), tiny_data_dir, tmp_path, device="cpu", progress=quiet, epoch_callback=tracker)

    assert [record.epoch for record in tracker.records] == [0, 2, 3]


def test_tracker_uses_class_frequencies(tiny_reference, tiny_data_dir, tmp_path):
    # Samples of a single class measured against a single-class reference give KL 0.
    train_set = load_images("mnist", tiny_data_dir, train=True)
    threes = to_training_tensor(train_set.images[train_set.labels == 3])
    state = SimpleNamespace(epoch=0, config=SimpleNamespace(epochs=1), generator=SimpleNamespace(num_classes=0))
    against_threes = CoverageTracker(tiny_reference, num_samples=len(threes),
                                     class_frequencies=training_class_frequencies(((3, 1),)))
    against_test = CoverageTracker(tiny_reference, num_samples=len(threes))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("gan_experiments.generate_images", lambda *args, **kwargs: threes)
        against_threes(state)
        against_test(state)

    assert against_threes.records[0].kl_divergence == pytest.approx(0.0, abs=1e-9)
    assert against_test.records[0].kl_divergence == pytest.approx(math.log(10))


def test_train_tracked_collects_everything(tiny_reference, tiny_data_dir, tmp_path):
    run = train_tracked("tiny", small_config(epochs=2), tiny_reference, tiny_data_dir, tmp_path, track_samples=40,
                        device="cpu")

    assert (tmp_path / "tiny" / "checkpoint.pt").is_file()
    assert [record.epoch for record in run.coverage.records] == [0, 1, 2]
    assert len(run.gradient_norms) == run.state.step == 20
    assert run.final is run.coverage.records[-1]
    assert run.epoch_means("loss_D").shape == (2,)
    assert run.epoch_means("D_x")[0] == pytest.approx(np.mean(run.state.history["D_x"][:10]))
    assert run.seconds > 0


def test_epoch_table_rows(tiny_reference, tiny_data_dir, tmp_path):
    run = train_tracked("tiny", small_config(epochs=2), tiny_reference, tiny_data_dir, tmp_path, track_samples=40,
                        device="cpu")

    lines = epoch_table(run).splitlines()
    selected = epoch_table(run, [0, 2]).splitlines()

    assert lines[0].split() == ["epoch", "loss_D", "loss_G", "D(x)", "D(G(z))", "classes", "KL", "Fréchet",
                                "diversity"]
    assert len(lines) == 2 + 3
    assert lines[2].split()[:5] == ["0", "-", "-", "-", "-"]
    assert lines[3].split()[1] == f"{run.epoch_means('loss_D')[0]:.3f}"
    assert [line.split()[0] for line in selected[2:]] == ["0", "2"]


def test_tracker_conditional_generator(tiny_reference, tiny_data_dir, tmp_path):
    run = train_tracked("conditional", small_config(conditional=True), tiny_reference, tiny_data_dir, tmp_path,
                        track_samples=40, device="cpu")

    assert len(run.coverage.records) == 2
    assert all(0.0 <= record.label_accuracy <= 1.0 for record in run.coverage.records)
    assert epoch_table(run).splitlines()[0].split()[-1] == "requested"


def test_label_accuracy_known_value(tiny_reference, tiny_data_dir):
    train_set = load_images("mnist", tiny_data_dir, train=True)
    images = to_training_tensor(train_set.images[:20])
    requested = train_set.labels[:20].clone()
    requested[:5] = (requested[:5] + 1) % 10  # five requests that the images do not match

    measurement = measure_samples(images, tiny_reference, requested_labels=requested)

    assert measurement.label_accuracy == pytest.approx(15 / 20)
    assert measure_samples(images, tiny_reference).label_accuracy is None


def test_gradient_recorder_one_norm_per_step(tiny_data_dir, tmp_path):
    recorder = GradientNormRecorder()

    state = train(small_config(epochs=2), tiny_data_dir, tmp_path, device="cpu", progress=quiet,
                  epoch_callback=recorder)
    recorder.remove()

    assert len(recorder.norms) == state.step == 20
    assert all(math.isfinite(norm) and norm > 0 for norm in recorder.norms)


def test_gradient_recorder_stops_after_remove():
    generator = Generator(z_dim=8, hidden_dims=(16,))
    optimizer = torch.optim.Adam(generator.parameters())
    recorder = GradientNormRecorder()
    recorder(SimpleNamespace(optimizer_G=optimizer))

    generator(torch.randn(4, 8)).sum().backward()
    optimizer.step()
    recorder.remove()
    optimizer.step()

    expected = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in generator.parameters()]))
    assert len(recorder.norms) == 1
    assert recorder.norms[0] == pytest.approx(float(expected), rel=1e-5)


# ---- Latent interpolation ----

@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolation_ends_are_inputs(method):
    start, end = torch.randn(16, generator=torch.Generator().manual_seed(0)), torch.randn(16)

    path = interpolate_latents(start, end, 7, method)

    assert path.shape == (7, 16)
    assert torch.allclose(path[0], start, atol=1e-6)
    assert torch.allclose(path[-1], end, atol=1e-6)


def test_linear_midpoint_is_mean():
    start, end = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 4.0])

    path = interpolate_latents(start, end, 3, "linear")

    assert path[1].tolist() == [1.0, 2.0]


def test_spherical_midpoint_of_orthogonal_vectors():
    start, end = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])

    path = interpolate_latents(start, end, 3, "spherical")

    half = 1 / math.sqrt(2)
    assert torch.allclose(path[1], torch.tensor([half, half]))
    assert torch.allclose(path.norm(dim=1), torch.ones(3))


def test_spherical_lengths_change_linearly():
    start, end = torch.tensor([3.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 5.0])

    path = interpolate_latents(start, end, 5, "spherical")

    assert torch.allclose(path.norm(dim=1), torch.tensor([3.0, 3.5, 4.0, 4.5, 5.0]))


def test_spherical_parallel_falls_back_to_linear():
    start = torch.tensor([1.0, 2.0])

    path = interpolate_latents(start, 3 * start, 3, "spherical")

    assert torch.allclose(path[1], 2 * start)


def test_linear_midpoint_shorter_in_high_dimensions():
    rng = torch.Generator().manual_seed(0)
    starts, ends = torch.randn(200, 64, generator=rng), torch.randn(200, 64, generator=rng)

    ratios = [float(interpolate_latents(a, b, 3, "linear")[1].norm() / a.norm()) for a, b in zip(starts, ends)]

    assert np.median(ratios) == pytest.approx(1 / math.sqrt(2), abs=0.03)


@pytest.mark.parametrize("arguments, message", [
    ((torch.zeros(4), torch.zeros(4), 5, "cubic"), "cubic"),
    ((torch.zeros(4), torch.zeros(4), 1, "linear"), "at least 2 steps"),
    ((torch.zeros(4), torch.zeros(5), 3, "linear"), "equal length"),
])
def test_interpolation_invalid_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        interpolate_latents(*arguments)


def test_read_path_distances_and_classes(tiny_reference, tiny_data_dir):
    train_set = load_images("mnist", tiny_data_dir, train=True)
    images = to_training_tensor(train_set.images[:3])
    black, white = torch.full((1, 1, 28, 28), -1.0), torch.full((1, 1, 28, 28), 1.0)

    reading = read_path(torch.cat([images, black, white]), tiny_reference)

    assert reading.predicted[:3].tolist() == train_set.labels[:3].tolist()
    assert reading.step_distances.shape == (4,)
    assert reading.step_distances[-1] == pytest.approx(28.0)  # sqrt(784) pixels changing by 1
    assert (reading.top_probability <= 1.0).all()


# ---- Reporting ----

def test_format_table_aligns_columns():
    table = format_table([("default", 10, "0.12"), ("collapsed run", 3, "1.50")], ("run", "classes", "KL"))

    assert table.splitlines() == [
        "run            classes  KL",
        "-------------  -------  ----",
        "default             10  0.12",
        "collapsed run        3  1.50",
    ]


def test_format_table_checks_row_length():
    with pytest.raises(ValueError, match="3 values"):
        format_table([("a", 1)], ("run", "classes", "KL"))
