import math

import numpy as np
import pytest
import torch
from gan_models import Discriminator, Dropout, Generator, count_parameters, sample_images
from gan_outputs import GRID_PAD_VALUE, GRID_PADDING, images_to_uint8, make_grid_image, moving_average
from gan_train_script import adversarial_loss
from torch import nn


def linear_parameters(widths):
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))


def test_generator_shape_and_range():
    torch.manual_seed(0)
    generator = Generator(z_dim=64)

    images = generator(torch.randn(16, 64) * 10)

    assert images.shape == (16, 1, 28, 28)
    assert images.min() >= -1
    assert images.max() <= 1


def test_discriminator_returns_logits():
    torch.manual_seed(0)
    discriminator = Discriminator().eval()

    logits = discriminator(torch.randn(16, 1, 28, 28) * 50)

    assert logits.shape == (16,)
    # Logits are unbounded; a sigmoid inside the network would keep them in (0, 1).
    assert (logits.abs() > 1).any()


def test_parameter_counts_match_architecture():
    generator = Generator(z_dim=64, hidden_dims=(256, 512))
    discriminator = Discriminator(hidden_dims=(512, 256))

    batchnorm = 2 * (256 + 512)  # a weight and a bias per feature
    assert count_parameters(generator) == linear_parameters([64, 256, 512, 784]) + batchnorm
    assert count_parameters(discriminator) == linear_parameters([784, 512, 256, 1])
    assert count_parameters(generator) == 551_952
    assert count_parameters(discriminator) == 533_505


def test_layers_are_configurable():
    generator = Generator(z_dim=10, hidden_dims=(32,))
    discriminator = Discriminator(hidden_dims=(16, 8, 4), dropout=0.0)

    assert generator(torch.randn(3, 10)).shape == (3, 1, 28, 28)
    assert discriminator(torch.randn(3, 1, 28, 28)).shape == (3,)
    assert sum(isinstance(m, Dropout) for m in discriminator.modules()) == 3


def test_dropout_matches_inverted_dropout():
    torch.manual_seed(0)
    dropout = Dropout(0.3)
    x = torch.ones(200, 500)

    y = dropout(x)

    kept = y != 0
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7))
    assert abs(1 - kept.float().mean().item() - 0.3) < 0.01
    assert abs(y.mean().item() - 1.0) < 0.02  # scaling keeps the expected value
    assert torch.equal(dropout.eval()(x), x)


def test_loss_matches_closed_form():
    logits = [-30.0, -2.0, 0.0, 3.0, 30.0]
    targets = [1.0, 0.0, 1.0, 1.0, 0.0]
    # -log(sigmoid(l)) = log(1 + exp(-l)) and -log(1 - sigmoid(l)) = log(1 + exp(l)).
    terms = [math.log1p(math.exp(-l)) if t == 1 else math.log1p(math.exp(l)) for l, t in zip(logits, targets)]

    loss = adversarial_loss(torch.tensor(logits), torch.tensor(targets))

    assert loss.item() == pytest.approx(sum(terms) / len(terms), rel=1e-6)


def test_sigmoid_then_bce_is_unstable():
    # In float32, sigmoid(30) rounds to 1, so Sigmoid + BCELoss takes log(0) and clamps it to -100.
    logit, target = torch.tensor([30.0]), torch.tensor([0.0])

    naive = nn.BCELoss()(torch.sigmoid(logit), target).item()
    stable = adversarial_loss(logit, target).item()

    assert stable == pytest.approx(30.0, rel=1e-6)
    assert naive == pytest.approx(100.0)


def test_equilibrium_loss_values():
    # At D = 1/2 for every image the summed real + fake loss is log 4 and the generator's loss log 2.
    half = torch.zeros(8)
    loss_D = adversarial_loss(half, torch.ones(8)) + adversarial_loss(half, torch.zeros(8))
    assert loss_D.item() == pytest.approx(math.log(4))
    assert adversarial_loss(half, torch.ones(8)).item() == pytest.approx(math.log(2))


def test_sampling_keeps_batchnorm_statistics():
    torch.manual_seed(0)
    generator = Generator()
    generator(torch.randn(32, 64))  # one training-mode pass so the running statistics are not the initial ones
    before = {name: buffer.clone() for name, buffer in generator.named_buffers()}

    sample_images(generator, torch.randn(64, 64))

    for name, buffer in generator.named_buffers():
        assert torch.equal(buffer, before[name]), name
    assert generator.training


def test_sampling_restores_eval_mode():
    generator = Generator().eval()

    sample_images(generator, torch.randn(4, 64))

    assert not generator.training


def test_sample_independent_of_batch():
    torch.manual_seed(0)
    generator = Generator()
    generator(torch.randn(32, 64))
    z = torch.randn(10, 64)

    alone = sample_images(generator, z[3:4])
    in_batch = sample_images(generator, z)[3:4]

    assert torch.allclose(alone, in_batch, atol=1e-6)


def test_grid_mapping_fixed_range():
    images = torch.tensor([-1.0, 0.0, 1.0, -2.0, 2.0, 0.5]).view(6, 1, 1, 1)

    pixels = images_to_uint8(images).flatten().tolist()

    assert pixels[0] == 0
    assert abs(pixels[1] - 128) <= 1
    assert pixels[2] == 255
    assert pixels[3] == 0  # clipped
    assert pixels[4] == 255  # clipped
    assert pixels[5] == 191  # 1.5 * 127.5 = 191.25


def test_constant_image_stays_constant():
    # Per-batch min-max scaling would stretch a constant grey image to black or white.
    images = torch.full((4, 1, 28, 28), -0.5)

    pixels = images_to_uint8(images)

    assert pixels.unique().tolist() == [64]  # 0.5 * 127.5 = 63.75


def test_grid_layout():
    images = torch.stack([torch.full((1, 28, 28), value) for value in (-1.0, 1.0, -1.0)])

    grid = make_grid_image(images, nrow=2)

    step = 28 + GRID_PADDING
    assert grid.shape == (2 * step + GRID_PADDING, 2 * step + GRID_PADDING)
    assert grid[GRID_PADDING, GRID_PADDING] == 0
    assert grid[GRID_PADDING, GRID_PADDING + step] == 255
    assert grid[GRID_PADDING + step, GRID_PADDING] == 0
    assert grid[0, 0] == GRID_PAD_VALUE
    assert grid[GRID_PADDING + step, GRID_PADDING + step] == GRID_PAD_VALUE  # the empty fourth cell


def test_moving_average():
    values = np.array([1.0, 3.0, 5.0, 7.0])

    assert moving_average(values, 2).tolist() == [1.0, 2.0, 4.0, 6.0]
    assert moving_average(values, 1).tolist() == values.tolist()
