import pytest
import torch

from c2q.models.teachers import AlexNet, LeNet5, build_teacher, count_parameters, ensemble_logits


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
@pytest.mark.parametrize("name", ["lenet", "alexnet"])
def test_teachers_take_every_dataset_shape(name, shape):
    model = build_teacher(name, shape, 6, width=0.125)
    assert model(torch.randn(2, *shape)).shape == (2, 6)


def test_lenet_matches_the_papers_layer_sizes():
    convs = [m for m in LeNet5().modules() if isinstance(m, torch.nn.Conv2d)]
    linears = [m for m in LeNet5().modules() if isinstance(m, torch.nn.Linear)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(6, (5, 5)), (16, (5, 5))]
    assert [l.out_features for l in linears] == [120, 84, 10]


def test_alexnet_width_scales_channels_and_hidden_units():
    full = AlexNet()
    convs = [m.out_channels for m in full.modules() if isinstance(m, torch.nn.Conv2d)]
    hidden = [m.out_features for m in full.modules() if isinstance(m, torch.nn.Linear)]
    assert convs == [64, 192, 384] and hidden == [4096, 4096, 10]
    quarter = [m.out_channels for m in AlexNet(width=0.25).modules() if isinstance(m, torch.nn.Conv2d)]
    assert quarter == [16, 48, 96]
    assert count_parameters(AlexNet(width=0.25)) < count_parameters(full) / 10


def test_ensemble_logits_are_the_mean_of_its_members():
    a, b, c = torch.randn(5, 10), torch.randn(5, 10), torch.randn(5, 10)
    assert torch.allclose(ensemble_logits([a, b, c]), (a + b + c) / 3)
    assert torch.equal(ensemble_logits([a]), a)
