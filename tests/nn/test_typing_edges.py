"""Edges made explicit while typing nn: a None step, an unpool without indices,
max_pool1d's indices."""

import numpy as np
import pytest

from chainrule import nn
from chainrule.autodiff import Tensor
from chainrule.nn import functional as F


def test_sequential_with_a_none_step_fails_as_calling_none() -> None:
    model = nn.Sequential(nn.Identity())
    model.add_module("1", None)
    assert list(model) == [model[0], None]
    with pytest.raises(TypeError, match="'NoneType' object is not callable"):
        model(Tensor(np.ones(2)))


@pytest.mark.parametrize("layer", [nn.MaxUnpool1d(2), nn.MaxUnpool2d(2)])
def test_unpool_without_indices_names_them(layer: nn.Module) -> None:
    with pytest.raises(TypeError, match="expected the indices of a max pool"):
        layer(Tensor(np.ones((1, 1, 2, 2))))


def test_max_pool1d_indices_point_into_length() -> None:
    x = Tensor(np.array([[[1.0, 3.0, 2.0, 0.0, 5.0, 4.0]]]))
    out, indices = F.max_pool1d(x, 2, return_indices=True)
    np.testing.assert_array_equal(out.data, [[[3.0, 2.0, 5.0]]])
    np.testing.assert_array_equal(indices.data, [[[1, 2, 4]]])
    plain = F.max_pool1d(x, 2)
    assert isinstance(plain, Tensor)
    np.testing.assert_array_equal(plain.data, [[[3.0, 2.0, 5.0]]])
