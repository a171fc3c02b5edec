"""Augmentation: shapes and dtypes kept, seeded, and known geometric results."""

from __future__ import annotations

import numpy as np
import pytest

from chainrule.data import (
    Compose,
    GaussianNoise,
    RandomFlip,
    RandomRotation,
    RandomShift,
    parse_augment,
    rotate_images,
    shift_images,
)


def _images(n: int = 16, shape=(8, 8), dtype=np.float32):
    return np.random.default_rng(0).random((n, *shape)).astype(dtype)


TRANSFORMS = [
    GaussianNoise(0.1),
    RandomShift(1),
    RandomShift(3),
    RandomFlip(),
    RandomFlip(horizontal=True, vertical=True),
    RandomRotation(15),
    Compose([RandomShift(1), RandomRotation(10), GaussianNoise(0.05)]),
    parse_augment("shift:1,flip,rotate:10,noise:0.05"),
]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["flat", "images", "channels"])
def test_shape_and_dtype_kept_and_seeded(transform, dtype, layout):
    images = _images(dtype=dtype)
    x = {
        "flat": images.reshape(16, 64),
        "images": images,
        "channels": images.reshape(8, 2, 8, 8),
    }[layout]
    before = x.copy()
    out = transform(x, np.random.default_rng(42))
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(x, before)  # the input is never modified
    again = transform(x, np.random.default_rng(42))
    np.testing.assert_array_equal(out, again)
    other = transform(x, np.random.default_rng(43))
    assert not np.array_equal(out, other)


def test_integer_images_keep_their_dtype():
    x = (np.random.default_rng(0).random((4, 8, 8)) * 255).astype(np.uint8)
    for transform in (RandomShift(1), RandomFlip(), RandomRotation(20)):
        out = transform(x, np.random.default_rng(0))
        assert out.dtype == np.uint8 and out.shape == x.shape
    with pytest.raises(TypeError, match="floating-point batch, got dtype uint8"):
        GaussianNoise(0.1)(x, np.random.default_rng(0))


def test_each_image_draws_its_own_parameters():
    x = np.tile(_images(1), (64, 1, 1))
    for transform in (RandomShift(1), RandomFlip(), RandomRotation(10), GaussianNoise(0.1)):
        out = transform(x, np.random.default_rng(0))
        assert len({out[i].tobytes() for i in range(64)}) > 1


# -- GaussianNoise ----------------------------------------------------------------------
def test_gaussian_noise_statistics():
    x = np.zeros((200, 500), dtype=np.float64)
    noise = GaussianNoise(0.05)(x, np.random.default_rng(0))
    assert abs(noise.mean()) < 1e-3
    assert abs(noise.std() - 0.05) < 1e-3
    np.testing.assert_array_equal(GaussianNoise(0.0)(x, np.random.default_rng(0)), x)


# -- RandomShift ------------------------------------------------------------------------
def test_shift_images_moves_a_known_pixel():
    x = np.zeros((1, 8, 8), dtype=np.float32)
    x[0, 2, 3] = 5.0
    out = shift_images(x, 1, 2)
    assert out[0, 3, 5] == 5.0 and out.sum() == 5.0
    out = shift_images(x.reshape(1, 64), -2, -3)  # flat rows, up and left
    assert out.reshape(8, 8)[0, 0] == 5.0
    assert shift_images(x, 0, 6).sum() == 0.0  # shifted out of the image: zero fill
    np.testing.assert_array_equal(shift_images(x, 0, 0), x)


def test_shift_images_zero_fills_and_matches_np_roll_inside():
    x = _images(3, dtype=np.float64)
    out = shift_images(x, np.array([1, 0, -2]), np.array([0, -1, 2]))
    np.testing.assert_array_equal(out[0, 1:], x[0, :-1])
    np.testing.assert_array_equal(out[0, 0], 0)
    np.testing.assert_array_equal(out[1, :, :-1], x[1, :, 1:])
    np.testing.assert_array_equal(out[1, :, -1], 0)
    np.testing.assert_array_equal(out[2, :-2, 2:], x[2, 2:, :-2])


def test_random_shift_moves_each_pixel_by_its_drawn_shift():
    n = 200
    x = np.zeros((n, 8, 8), dtype=np.float32)
    x[:, 4, 4] = 1.0
    out = RandomShift(1)(x, np.random.default_rng(0))
    positions = np.argwhere(out == 1.0)
    assert len(positions) == n  # the pixel never leaves an 8x8 image when shifted by 1
    offsets = positions[:, 1:] - 4
    assert np.abs(offsets).max() == 1
    assert len({tuple(o) for o in offsets}) == 9  # all nine shifts occur
    # The documented draw: rng.integers(-m, m + 1, size=(N, 2)) as (dy, dx) per image.
    drawn = np.random.default_rng(0).integers(-1, 2, size=(n, 2))
    np.testing.assert_array_equal(offsets, drawn)
    np.testing.assert_array_equal(RandomShift(0)(x, np.random.default_rng(0)), x)


# -- RandomFlip -------------------------------------------------------------------------
def test_flip_with_p_one_equals_np_flip():
    x = _images(5)
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(RandomFlip(p=1.0)(x, rng), np.flip(x, axis=2))
    np.testing.assert_array_equal(
        RandomFlip(horizontal=False, vertical=True, p=1.0)(x, rng), np.flip(x, axis=1)
    )
    np.testing.assert_array_equal(
        RandomFlip(horizontal=True, vertical=True, p=1.0)(x, rng), np.flip(x, axis=(1, 2))
    )
    flat = RandomFlip(p=1.0, image_shape=(8, 8))(x.reshape(5, 64), rng)
    np.testing.assert_array_equal(flat, np.flip(x, axis=2).reshape(5, 64))
    np.testing.assert_array_equal(RandomFlip(p=0.0)(x, rng), x)


def test_flip_probability():
    x = np.zeros((2000, 1, 2), dtype=np.float32)
    x[:, 0, 0] = 1.0
    out = RandomFlip(p=0.3)(x, np.random.default_rng(0))
    assert abs(out[:, 0, 1].mean() - 0.3) < 0.04


# -- RandomRotation ---------------------------------------------------------------------
def test_rotation_by_zero_is_identity():
    x = _images()
    np.testing.assert_array_equal(RandomRotation(0)(x, np.random.default_rng(0)), x)
    np.testing.assert_array_equal(rotate_images(x, 0.0), x)
    np.testing.assert_array_equal(rotate_images(x, 360.0), x)


@pytest.mark.parametrize("size", [8, 7])
def test_rotation_by_90_equals_rot90(size):
    x = _images(4, shape=(size, size), dtype=np.float64)
    np.testing.assert_allclose(rotate_images(x, 90), np.rot90(x, k=1, axes=(1, 2)), atol=1e-12)
    np.testing.assert_allclose(rotate_images(x, -90), np.rot90(x, k=-1, axes=(1, 2)), atol=1e-12)
    np.testing.assert_allclose(rotate_images(x, 180), np.rot90(x, k=2, axes=(1, 2)), atol=1e-12)
    flat = rotate_images(x.reshape(4, -1), 90, image_shape=(size, size))
    np.testing.assert_allclose(flat, np.rot90(x, axes=(1, 2)).reshape(4, -1), atol=1e-12)


def test_rotation_interpolates_and_zero_fills():
    x = np.ones((1, 9, 9), dtype=np.float64)
    out = rotate_images(x, 45)
    assert out[0, 4, 4] == 1.0  # the centre stays put
    assert out[0, 0, 0] == 0.0  # a corner reads from outside the image: zero fill
    assert 0.0 <= out.min() and out.max() <= 1.0 + 1e-12
    # A linear ramp is reproduced exactly by bilinear interpolation where it stays inside.
    ramp = np.tile(np.arange(9, dtype=np.float64), (9, 1))[None]
    small = rotate_images(ramp, 5.0)
    theta = np.deg2rad(5.0)
    i, j = 4, 6
    src_x = -np.sin(theta) * (i - 4) + np.cos(theta) * (j - 4) + 4
    assert small[0, i, j] == pytest.approx(src_x, abs=1e-12)


def test_rotation_per_image_angles():
    x = _images(2, dtype=np.float64)
    out = rotate_images(x, np.array([90.0, 0.0]))
    np.testing.assert_allclose(out[0], np.rot90(x[0]), atol=1e-12)
    np.testing.assert_array_equal(out[1], x[1])


# -- errors -----------------------------------------------------------------------------
def test_image_shape_errors():
    with pytest.raises(
        ValueError, match=r"rows of 64 features for image_shape \(8, 8\), got shape \(4, 63\)"
    ):
        RandomShift(1)(np.zeros((4, 63)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="image_shape"):
        RandomFlip(image_shape=(8,))
    with pytest.raises(ValueError, match=r"got shape \(5,\)"):
        RandomRotation(5)(np.zeros(5), np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"rng to be a numpy\.random\.Generator"):
        RandomShift(1)(np.zeros((1, 64)), 0)
    with pytest.raises(ValueError, match="whole-pixel"):
        shift_images(np.zeros((1, 8, 8)), 0.5, 0)


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"std >= 0, got -0\.1"):
        GaussianNoise(-0.1)
    with pytest.raises(TypeError, match="max_shift to be an int"):
        RandomShift(1.5)
    with pytest.raises(ValueError, match=r"probability p in \[0, 1\], got 1.5"):
        RandomFlip(p=1.5)
    with pytest.raises(ValueError, match="horizontal=True or vertical=True"):
        RandomFlip(horizontal=False)
    with pytest.raises(ValueError, match=r"max_degrees in \[0, 180\]"):
        RandomRotation(200)
    with pytest.raises(TypeError, match="callables"):
        Compose([GaussianNoise(0.1), "flip"])


# -- parse_augment ----------------------------------------------------------------------
def test_parse_augment_builds_the_transforms():
    transform = parse_augment("noise:0.05")
    assert isinstance(transform, Compose) and len(transform) == 1
    assert isinstance(transform.transforms[0], GaussianNoise)
    assert transform.transforms[0].std == 0.05
    parsed = parse_augment(" shift:2 , flip:v, rotate:12.5,noise:0.1 ", image_shape=(28, 28))
    kinds = [type(t) for t in parsed]
    assert kinds == [RandomShift, RandomFlip, RandomRotation, GaussianNoise]
    shift, flip, rotate, _ = parsed
    assert shift.max_shift == 2 and shift.image_shape == (28, 28)
    assert flip.vertical and not flip.horizontal
    assert rotate.max_degrees == 12.5
    assert len(parse_augment("none")) == 0
    assert parse_augment("flip").transforms[0].horizontal
    x = _images()
    np.testing.assert_array_equal(parse_augment("none")(x, np.random.default_rng(0)), x)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "expected a spec like"),
        ("blur:3", "unknown augmentation 'blur'"),
        ("noise", r"needs a value: noise:STD, e.g. noise:0.05"),
        ("noise:", "needs a value"),
        ("noise:abc", "STD must be a number, got 'abc'"),
        ("noise:-1", "STD must be >= 0"),
        ("noise:inf", "STD must be >= 0"),
        ("shift:1.5", "PIXELS must be a whole number"),
        ("rotate:x", "DEGREES must be a number"),
        ("rotate:270", "at most 180"),
        ("flip:d", "flip takes no value or one of h, v, hv"),
        ("shift:1,,flip", "empty item"),
    ],
)
def test_parse_augment_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_augment(spec)
    with pytest.raises(TypeError, match="string spec"):
        parse_augment(None)
