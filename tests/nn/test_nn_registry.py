"""chainrule.nn's registries: activations, losses, and layers rebuilt from get_config()."""

import numpy as np
import pytest

import chainrule.nn as nn
import chainrule.nn.functional as F

LAYERS = [
    nn.Linear(3, 2, bias=False),
    nn.Conv2d(2, 4, (1, 3), stride=(1, 2), padding="valid", groups=2),
    nn.Conv1d(1, 2, 3, padding=1),
    nn.MaxPool2d(2, 1, dilation=2),
    nn.AvgPool1d(3, count_include_pad=False),
    nn.AdaptiveAvgPool2d((2, 1)),
    nn.BatchNorm1d(4, momentum=None, affine=False),
    nn.BatchNorm2d(3, eps=1e-3),
    nn.LayerNorm((2, 3), bias=False),
    nn.GroupNorm(2, 4, affine=False),
    nn.Embedding(5, 2, padding_idx=1),
    nn.Unflatten(1, (2, 2)),
    nn.Flatten(0, 1),
    nn.Dropout(0.25),
    nn.LeakyReLU(0.3),
    nn.GELU("tanh"),
    nn.Softplus(2.0, 5.0),
    nn.Hardtanh(-2.0, 3.0),
    nn.Softmin(0),
    nn.PReLU(3),
    nn.Identity(),
]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda m: type(m).__name__)
def test_a_layer_rebuilt_from_its_config_has_the_same_config_and_repr(layer):
    config = layer.get_config()
    again = type(layer)(**config)
    assert again.get_config() == config
    assert repr(again) == repr(layer)


def test_get_config_names_the_constructor_arguments():
    assert nn.Linear(3, 2, bias=False).get_config() == {
        "in_features": 3,
        "out_features": 2,
        "bias": False,
    }
    assert nn.ReLU(inplace=True).get_config() == {}
    assert nn.MaxPool1d(3).get_config()["stride"] == 3  # torch's default: the kernel size


def test_modules_without_a_config_say_so():
    with pytest.raises(TypeError, match="Sequential has no config"):
        nn.Sequential(nn.ReLU()).get_config()


def test_layer_registry_holds_every_public_layer_and_no_base_class():
    assert nn.LAYERS["Linear"] is nn.Linear and nn.LAYERS["Conv2d"] is nn.Conv2d
    assert not any(name.startswith("_") for name in nn.LAYERS)
    assert "Sequential" not in nn.LAYERS and "MSELoss" not in nn.LAYERS
    assert len(nn.LAYERS) == 37


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("relu", nn.ReLU),
        ("leaky_relu", nn.LeakyReLU),
        ("log_softmax", nn.LogSoftmax),
        ("silu", nn.SiLU),
    ],
)
def test_get_activation_builds_a_fresh_layer(name, cls):
    first, second = nn.get_activation(name), nn.get_activation(name)
    assert type(first) is cls and first is not second


def test_get_activation_passes_options_and_identity_names_mean_no_layer():
    assert nn.get_activation("leaky_relu", negative_slope=0.2).negative_slope == 0.2
    assert [nn.get_activation(n) for n in nn.IDENTITY_NAMES] == [None, None, None]
    assert nn.activation_names()[:4] == ["none", "identity", "linear", "relu"]


def test_get_activation_rejects_an_unknown_name_listing_the_known():
    with pytest.raises(ValueError, match=r"one of none, identity, linear, relu, .*; got 'swish'"):
        nn.get_activation("swish")


def test_get_loss_is_the_functional_loss():
    assert nn.get_loss("mse") is F.mse_loss
    assert nn.get_loss("mae") is F.l1_loss
    assert nn.get_loss("bce_with_logits") is F.binary_cross_entropy_with_logits
    assert nn.CLASS_LOSSES == {"cross_entropy", "nll"}
    with pytest.raises(ValueError, match=r"one of mse, l1, .*; got 'hinge'"):
        nn.get_loss("hinge")


def test_activation_layers_compute_their_function():
    x = np.array([[-2.0, 0.5, 3.0]])
    assert np.array_equal(nn.LeakyReLU(0.1)(x).data, np.array([[-0.2, 0.5, 3.0]]))
    assert np.array_equal(nn.Hardtanh(-1.0, 2.0)(x).data, np.array([[-1.0, 0.5, 2.0]]))
    assert np.allclose(nn.Softmin(-1)(x).data.sum(), 1.0)
