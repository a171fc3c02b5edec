"""chainrule.optim.create: one name -> optimizer registry with torch.optim's defaults."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim


def _params():
    return [cr.Tensor(np.zeros(3), requires_grad=True)]


@pytest.mark.parametrize(
    ("name", "cls", "expected"),
    [
        ("sgd", optim.SGD, {"lr": 1e-3, "momentum": 0, "nesterov": False}),
        ("SGD", optim.SGD, {"lr": 1e-3, "momentum": 0}),
        ("momentum", optim.SGD, {"momentum": 0.9, "nesterov": False}),
        ("nesterov", optim.SGD, {"momentum": 0.9, "nesterov": True}),
        ("adagrad", optim.Adagrad, {"lr": 1e-2, "eps": 1e-10}),
        ("rmsprop", optim.RMSprop, {"lr": 1e-2, "alpha": 0.99}),
        ("adadelta", optim.Adadelta, {"lr": 1.0, "rho": 0.9}),
        ("adam", optim.Adam, {"lr": 1e-3, "betas": (0.9, 0.999), "weight_decay": 0}),
        ("adamw", optim.AdamW, {"weight_decay": 1e-2, "decoupled_weight_decay": True}),
    ],
)
def test_create_gives_the_class_with_torch_defaults(name, cls, expected):
    opt = optim.create(name, _params())
    assert type(opt) is cls
    for key, value in expected.items():
        assert opt.defaults[key] == value


def test_create_options_override_the_preset_and_lists_become_betas():
    opt = optim.create("momentum", _params(), lr=0.5, momentum=0.5)
    assert (opt.defaults["lr"], opt.defaults["momentum"]) == (0.5, 0.5)
    adam = optim.create("adam", _params(), betas=[0.8, 0.9])
    assert adam.defaults["betas"] == (0.8, 0.9)


def test_create_rejects_an_unknown_name_listing_the_valid_ones():
    with pytest.raises(ValueError, match=r"one of \['adadelta', 'adagrad', .*'sgd'\]; got 'lion'"):
        optim.create("lion", _params())


def test_create_rejects_an_unknown_option_listing_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"optimizer 'adam' takes the options \['lr', 'betas'.*momentum"
    ):
        optim.create("adam", _params(), momentum=0.9)


def test_optimizer_options_are_the_constructor_arguments():
    assert optim.optimizer_options("adadelta") == [
        "lr",
        "rho",
        "eps",
        "weight_decay",
        "maximize",
        "fused",
    ]


def test_registry_lists_every_optimizer_class():
    classes = {cls for cls, _ in optim.OPTIMIZERS.values()}
    assert classes == {
        optim.SGD,
        optim.Adagrad,
        optim.RMSprop,
        optim.Adadelta,
        optim.Adam,
        optim.AdamW,
    }
