"""Mutation fuzzing: a damaged model file loads validly or raises ModelFormatError —
never another exception, never a hang, never a large allocation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.nn as nn
from chainrule.data import StandardScaler
from chainrule.data.tabular import TabularEncoder, columns_table
from chainrule.io import Checkpoint
from chainrule.pipeline import Pipeline

pytest.importorskip("safetensors")


def _module_bytes(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2, generator=0), nn.ReLU(), nn.BatchNorm1d(2))
    cr.save(model, tmp_path / "m.safetensors")
    return (tmp_path / "m.safetensors").read_bytes()


def _pipeline_bytes(tmp_path):
    table = columns_table({"x": [1, 2, 3], "c": ["a", "b", "a"], "y": ["u", "v", "u"]})
    encoder = TabularEncoder("y").fit(table)
    scaler = StandardScaler().fit(encoder.transform(table))
    pipe = Pipeline(nn.Sequential(nn.Linear(3, 2, generator=0)), encoder, scaler)
    cr.save(pipe, tmp_path / "p.safetensors")
    return (tmp_path / "p.safetensors").read_bytes()


def _checkpoint_bytes(tmp_path):
    model = nn.Sequential(nn.Linear(2, 2, generator=0))
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    cr.fit(
        model,
        np.ones((2, 2), np.float32),
        np.array([0, 1]),
        loss="cross_entropy",
        optimizer=opt,
        verbose=0,
    )
    cr.save(Checkpoint.capture(model, opt, state={"epoch": 1}), tmp_path / "c.safetensors")
    return (tmp_path / "c.safetensors").read_bytes()


def _load_or_format_error(path, content):
    path.write_bytes(content)
    try:
        cr.load(path)
    except cr.ModelFormatError as error:
        assert "\n" not in str(error)
        return False
    return True


@pytest.mark.parametrize("make", [_module_bytes, _pipeline_bytes, _checkpoint_bytes])
def test_truncation_at_every_offset(make, tmp_path):
    content = make(tmp_path)
    path = tmp_path / "cut.safetensors"
    for end in range(len(content)):
        assert not _load_or_format_error(path, content[:end]), f"truncated at {end} loaded"
    assert _load_or_format_error(path, content)


@pytest.mark.parametrize("make", [_module_bytes, _pipeline_bytes, _checkpoint_bytes])
def test_random_byte_flips(make, tmp_path):
    content = make(tmp_path)
    rng = np.random.default_rng(0)
    path = tmp_path / "flipped.safetensors"
    loaded = 0
    for _ in range(400):
        mutated = bytearray(content)
        for position in rng.integers(0, len(content), rng.integers(1, 4)):
            mutated[position] ^= 1 << int(rng.integers(8))
        loaded += _load_or_format_error(path, bytes(mutated))
    assert loaded < 400  # most flips are caught; the rest are valid files


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_hypothesis_mutations(tmp_path, data):
    content = bytearray(_module_bytes(tmp_path))
    for _ in range(data.draw(st.integers(1, 4))):
        operation = data.draw(st.sampled_from(["replace", "insert", "delete", "splice"]))
        position = data.draw(st.integers(0, len(content)))
        if operation == "replace" and position < len(content):
            content[position] = data.draw(st.integers(0, 255))
        elif operation == "insert":
            content[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del content[position : position + data.draw(st.integers(1, 8))]
        else:
            content[position:] = data.draw(st.binary(max_size=64))
    _load_or_format_error(tmp_path / "h.safetensors", bytes(content))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=512))
def test_hypothesis_arbitrary_bytes(tmp_path, content):
    _load_or_format_error(tmp_path / "a.safetensors", content)
