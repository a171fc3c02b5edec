"""The CLI's learning rate when --lr is not given: explicit per optimizer, and in --help."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli.main import main
from chainrule.cli.options import DEFAULT_LR, OPTIMIZERS, TrainOptions
from chainrule.cli.training import build_model, build_optimizer

LIBRARY = {
    "sgd": cr.optim.SGD,
    "adagrad": cr.optim.Adagrad,
    "rmsprop": cr.optim.RMSprop,
    "adadelta": cr.optim.Adadelta,
    "adam": cr.optim.Adam,
    "adamw": cr.optim.AdamW,
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_without_lr_the_optimizer_gets_the_documented_default(name):
    options = TrainOptions(optimizer=name, hidden=[3])
    model = build_model(2, 2, options, np.random.default_rng(0))
    optimizer = build_optimizer(model, options)
    assert optimizer.param_groups[0]["lr"] == DEFAULT_LR[name]
    given = build_optimizer(model, TrainOptions(optimizer=name, hidden=[3], lr=0.25))
    assert given.param_groups[0]["lr"] == 0.25


def test_the_defaults_are_the_librarys_but_for_the_sgd_variants():
    for name, cls in LIBRARY.items():
        library = inspect.signature(cls).parameters["lr"].default
        assert DEFAULT_LR[name] == (0.01 if name == "sgd" else library), name
    assert inspect.signature(cr.optim.SGD).parameters["lr"].default == 1e-3
    assert DEFAULT_LR["momentum"] == DEFAULT_LR["nesterov"] == 0.01


def test_train_help_states_the_default_learning_rates(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (
        "learning rate (default per optimizer: adam, adamw 0.001; sgd, momentum, nesterov 0.01"
        in text
    )
    assert "the library's SGD default is 0.001" in text
