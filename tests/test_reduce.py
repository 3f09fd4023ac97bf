import pytest
import torch

from c2q.core.errors import ReductionError
from c2q.core.variants import grid_shape, reduction_problem
from c2q.data.reduce import Reducer


@pytest.mark.parametrize("reduction", ["avgpool", "maxpool", "center_crop", "pca"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
@pytest.mark.parametrize("n", [4, 6, 8, 16])
def test_each_reduction_returns_the_encoder_size(reduction, shape, n):
    torch.manual_seed(0)
    train, test = torch.randn(64, *shape), torch.randn(10, *shape)
    reducer = Reducer(reduction, n, "angle").fit(train)
    assert reducer.transform(test).shape == (10, n)
    out = reducer.transform(train)
    assert out.dtype == torch.float32
    # For angle encodings: standardised with the train split's statistics.
    assert torch.allclose(out.mean(0), torch.zeros(n), atol=1e-4)
    assert torch.allclose(out.std(0), torch.ones(n), atol=1e-4)


@pytest.mark.parametrize("reduction", ["avgpool", "maxpool", "center_crop", "pca"])
def test_amplitude_encoding_gets_features_with_their_relative_magnitudes(reduction):
    """No per-feature standardisation: PCA's leading component keeps the largest variance, and a
    pooled bright region stays brighter than a dark one."""
    torch.manual_seed(0)
    train = torch.randn(200, 1, 8, 8) * 2.0 ** torch.arange(8)  # each column twice the contrast of the last
    unscaled = Reducer(reduction, 4, "amplitude").fit(train)
    standardised = Reducer(reduction, 4, "qubit").fit(train)
    assert torch.allclose(unscaled.transform(train), unscaled._raw(train))
    spread = unscaled.transform(train).std(0)
    if reduction == "pca":
        assert (spread[:-1] >= spread[1:]).all() and spread[0] > spread[-1]  # components in order of variance
    else:
        assert spread.max() / spread.min() > 1.5
    assert torch.allclose(standardised.transform(train).std(0), torch.ones(4), atol=1e-4)


@pytest.mark.parametrize("reduction", ["avgpool", "maxpool", "center_crop", "pca"])
def test_fitted_parameters_depend_on_the_train_split_only(reduction):
    torch.manual_seed(1)
    train = torch.randn(100, 1, 28, 28)
    test_a, test_b = torch.randn(20, 1, 28, 28), torch.randn(20, 1, 28, 28) * 5 + 3
    a, b = Reducer(reduction, 16, "angle").fit(train), Reducer(reduction, 16, "angle").fit(train)
    a.transform(test_a), b.transform(test_b)  # different test data seen by each
    assert torch.equal(a.mean, b.mean) and torch.equal(a.std, b.std)
    assert torch.equal(a.transform(train), b.transform(train))
    if reduction == "pca":
        assert torch.equal(a.components, b.components) and torch.equal(a.centre, b.centre)
    # ...while different training data does change them.
    assert not torch.equal(Reducer(reduction, 16, "angle").fit(train * 2 + 1).mean, a.mean)


def test_grid_shapes():
    assert [grid_shape(n) for n in (4, 8, 16, 32, 64, 128, 256, 6)] == [
        (2, 2), (2, 4), (4, 4), (4, 8), (8, 8), (8, 16), (16, 16), (2, 3)
    ]


def test_center_crop_takes_the_central_pixels_and_avgpool_the_region_means():
    image = torch.arange(64.0).view(1, 1, 8, 8)
    crop = Reducer("center_crop", 8, "amplitude").fit(image)  # amplitude: unscaled pixels
    assert crop.transform(image).view(2, 4).tolist() == [[26, 27, 28, 29], [34, 35, 36, 37]]
    pool = Reducer("avgpool", 4, "amplitude").fit(image)
    assert pool.transform(image).view(-1).tolist() == [13.5, 17.5, 45.5, 49.5]
    mx = Reducer("maxpool", 4, "amplitude").fit(image)
    assert mx.transform(image).view(-1).tolist() == [27, 31, 59, 63]


def test_colour_is_averaged_before_pooling():
    rgb = torch.stack([torch.full((4, 4), v) for v in (0.0, 3.0, 6.0)])[None]
    pool = Reducer("avgpool", 4, "amplitude").fit(rgb)
    assert pool.transform(rgb).tolist() == [[3.0, 3.0, 3.0, 3.0]]


def test_impossible_reductions_stop_with_a_message():
    assert "16x16 grid" in reduction_problem("avgpool", 256, (1, 8, 8))
    assert "64 pixels" in reduction_problem("pca", 128, (1, 8, 8))
    assert reduction_problem("center_crop", 256, (1, 28, 28)) is None
    with pytest.raises(ReductionError, match="16x16 grid"):
        Reducer("maxpool", 256, "amplitude").fit(torch.randn(10, 1, 8, 8))
    with pytest.raises(ReductionError, match="pca cannot fit 16 components on 10"):
        Reducer("pca", 16, "amplitude").fit(torch.randn(10, 1, 28, 28))
