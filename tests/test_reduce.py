import pytest
import torch

from c2q.errors import ReductionError
from c2q.reduce import Reducer
from c2q.variants import grid_shape, reduction_problem


@pytest.mark.parametrize("reduction", ["avgpool", "maxpool", "center_crop", "pca"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
@pytest.mark.parametrize("n", [4, 6, 8, 16])
def test_each_reduction_returns_the_encoder_size(reduction, shape, n):
    torch.manual_seed(0)
    train, test = torch.randn(64, *shape), torch.randn(10, *shape)
    reducer = Reducer(reduction, n).fit(train)
    assert reducer.transform(test).shape == (10, n)
    out = reducer.transform(train)
    assert out.dtype == torch.float32
    # Standardised with the train split's statistics.
    assert torch.allclose(out.mean(0), torch.zeros(n), atol=1e-4)


@pytest.mark.parametrize("reduction", ["avgpool", "maxpool", "center_crop", "pca"])
def test_fitted_parameters_depend_on_the_train_split_only(reduction):
    torch.manual_seed(1)
    train = torch.randn(100, 1, 28, 28)
    test_a, test_b = torch.randn(20, 1, 28, 28), torch.randn(20, 1, 28, 28) * 5 + 3
    a, b = Reducer(reduction, 16).fit(train), Reducer(reduction, 16).fit(train)
    a.transform(test_a), b.transform(test_b)  # different test data seen by each
    assert torch.equal(a.mean, b.mean) and torch.equal(a.std, b.std)
    assert torch.equal(a.transform(train), b.transform(train))
    if reduction == "pca":
        assert (a.pca.components_ == b.pca.components_).all()
    # ...while different training data does change them.
    assert not torch.equal(Reducer(reduction, 16).fit(train * 2 + 1).mean, a.mean)


def test_grid_shapes():
    assert [grid_shape(n) for n in (4, 8, 16, 32, 64, 128, 256, 6)] == [
        (2, 2), (2, 4), (4, 4), (4, 8), (8, 8), (8, 16), (16, 16), (2, 3)
    ]


def test_center_crop_takes_the_central_pixels_and_avgpool_the_region_means():
    image = torch.arange(64.0).view(1, 1, 8, 8)
    crop = Reducer("center_crop", 8)
    crop.mean, crop.std = torch.zeros(8), torch.ones(8)  # no standardisation, to see raw pixels
    assert crop.transform(image).view(2, 4).tolist() == [[26, 27, 28, 29], [34, 35, 36, 37]]
    pool = Reducer("avgpool", 4)
    pool.mean, pool.std = torch.zeros(4), torch.ones(4)
    assert pool.transform(image).view(-1).tolist() == [13.5, 17.5, 45.5, 49.5]
    mx = Reducer("maxpool", 4)
    mx.mean, mx.std = torch.zeros(4), torch.ones(4)
    assert mx.transform(image).view(-1).tolist() == [27, 31, 59, 63]


def test_colour_is_averaged_before_pooling():
    rgb = torch.stack([torch.full((4, 4), v) for v in (0.0, 3.0, 6.0)])[None]
    pool = Reducer("avgpool", 4)
    pool.mean, pool.std = torch.zeros(4), torch.ones(4)
    assert pool.transform(rgb).tolist() == [[3.0, 3.0, 3.0, 3.0]]


def test_impossible_reductions_stop_with_a_message():
    assert "16x16 grid" in reduction_problem("avgpool", 256, (1, 8, 8))
    assert "64 pixels" in reduction_problem("pca", 128, (1, 8, 8))
    assert reduction_problem("center_crop", 256, (1, 28, 28)) is None
    with pytest.raises(ReductionError, match="16x16 grid"):
        Reducer("maxpool", 256).fit(torch.randn(10, 1, 8, 8))
    with pytest.raises(ReductionError, match="pca cannot fit 16 components on 10"):
        Reducer("pca", 16).fit(torch.randn(10, 1, 28, 28))
