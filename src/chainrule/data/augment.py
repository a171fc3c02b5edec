"""Data augmentation applied per batch, with the random stream passed in.

A transform is any callable ``transform(x_batch, rng) -> x_batch`` taking an ndarray
batch and a ``numpy.random.Generator``, and returning a new array of the same shape and
dtype (the input is never modified). Each sample gets its own random draw, but every
transform works on the whole batch at once with NumPy indexing, without a Python loop
over samples.

Images are given either as flat rows (N, H*W) with ``image_shape=(H, W)`` (or
(N, C*H*W) with ``image_shape=(C, H, W)``), or as arrays (N, H, W) / (N, C, H, W), whose
last two axes are then taken as the image (``image_shape`` is only used for flat rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ._util import as_array

__all__ = [
    "Compose",
    "GaussianNoise",
    "RandomFlip",
    "RandomRotation",
    "RandomShift",
    "Transform",
    "parse_augment",
    "rotate_images",
    "shift_images",
]

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


# -- shapes ------------------------------------------------------------------------------
def _check_image_shape(name: str, image_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(image_shape)
    except TypeError:
        shape = ()
    if (
        len(shape) not in (2, 3)
        or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in shape)
        or any(s < 1 for s in shape)
    ):
        raise ValueError(
            f"{name} expected image_shape (H, W) or (C, H, W) of positive ints, got {image_shape!r}"
        )
    return tuple(int(s) for s in shape)


def _as_images(x: Any, image_shape: tuple[int, ...], name: str) -> tuple[np.ndarray, tuple]:
    """The batch as (N, L, H, W) (a view where possible) and its original shape.

    L gathers any leading non-spatial axes (channels): they move together, since every
    channel of one image gets the same shift, flip or rotation.
    """
    array = as_array(x)
    if array.ndim == 2:
        features = math.prod(image_shape)
        if array.shape[1] != features:
            raise ValueError(
                f"{name} expected rows of {features} features for image_shape {image_shape}, "
                f"got shape {array.shape}; pass image_shape= or a (N, H, W) array"
            )
        height, width = image_shape[-2:]
    elif array.ndim >= 3:
        height, width = array.shape[-2:]
    else:
        raise ValueError(
            f"{name} expected a batch of images (N, H*W) or (N, H, W), got shape {array.shape}"
        )
    return array.reshape(array.shape[0], -1, height, width), array.shape


def _per_sample(name: str, value: Any, n: int, what: str) -> np.ndarray:
    array = np.asarray(value)
    if array.ndim == 0:
        return np.full(n, array)
    if array.shape != (n,):
        raise ValueError(
            f"{name} expected {what} as a scalar or one per image, shape ({n},), got shape "
            f"{array.shape}"
        )
    return array


def _whole(values: np.ndarray, arg: str) -> np.ndarray:
    if values.dtype.kind in "iu":
        return values.astype(np.intp)
    if (
        values.dtype.kind != "f"
        or not np.isfinite(values).all()
        or (values != np.rint(values)).any()
    ):
        raise ValueError(f"shift_images expected whole-pixel shifts {arg}, got {values!r:.80}")
    return values.astype(np.intp)


def _cast_like(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype.kind in "iub":
        # Interpolated integers (e.g. uint8 pixels) round to the nearest representable value.
        info = np.iinfo(dtype) if dtype.kind != "b" else None
        values = np.rint(values)
        if info is not None:
            values = np.clip(values, info.min, info.max)
    return values.astype(dtype, copy=False)


# -- deterministic image operations ------------------------------------------------------
def shift_images(x: Any, dy: Any, dx: Any, image_shape: tuple[int, ...] = (8, 8)) -> np.ndarray:
    """Shift each image by whole pixels, filling with zeros.

    ``dy`` (down) and ``dx`` (right) are ints or int arrays of shape (N,): the pixel at
    (row, col) moves to (row + dy, col + dx). ``x``: flat rows (N, H*W) or (N, ..., H, W).
    Returns a new array of ``x``'s shape and dtype.
    """
    images, shape = _as_images(x, image_shape, "shift_images")
    n, _, height, width = images.shape
    dy, dx = (
        _whole(_per_sample("shift_images", d, n, arg), arg) for d, arg in ((dy, "dy"), (dx, "dx"))
    )
    # Beyond the image size everything is fill anyway; clipping bounds the padding.
    dy = np.clip(dy, -height, height)
    dx = np.clip(dx, -width, width)
    pad = int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    if pad == 0:
        return images.reshape(shape).copy()
    padded = np.zeros((*images.shape[:2], height + 2 * pad, width + 2 * pad), images.dtype)
    padded[:, :, pad : pad + height, pad : pad + width] = images
    # out[r, c] = in[r - dy, c - dx] = padded[r - dy + pad, c - dx + pad]: one gather.
    rows = (pad - dy)[:, None] + np.arange(height)
    cols = (pad - dx)[:, None] + np.arange(width)
    out = padded[
        np.arange(n)[:, None, None, None],
        np.arange(images.shape[1])[None, :, None, None],
        rows[:, None, :, None],
        cols[:, None, None, :],
    ]
    return out.reshape(shape)


def rotate_images(x: Any, degrees: Any, image_shape: tuple[int, ...] = (8, 8)) -> np.ndarray:
    """Rotate each image counter-clockwise by ``degrees`` about its centre.

    Bilinear interpolation, zero fill outside the image. ``degrees`` is a float or an
    array of shape (N,). ``rotate_images(x, 90)`` on square images equals
    ``np.rot90(x, axes=(-2, -1))``. Returns a new array of ``x``'s shape and dtype.
    """
    images, shape = _as_images(x, image_shape, "rotate_images")
    n, _, height, width = images.shape
    theta = np.deg2rad(_per_sample("rotate_images", degrees, n, "degrees").astype(np.float64))
    cos, sin = np.cos(theta), np.sin(theta)
    # cos(90°) is 6e-17, not 0: snap near-exact values so that multiples of 90° map pixel
    # centres exactly onto pixel centres (a permutation, not 1e-16 blends of neighbours).
    for values in (cos, sin):
        nearest = np.rint(values)
        exact = np.abs(values - nearest) < 1e-12
        values[exact] = nearest[exact]
    cos, sin = cos[:, None, None], sin[:, None, None]
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    u = (np.arange(height) - cy)[None, :, None]
    v = (np.arange(width) - cx)[None, None, :]
    # Inverse mapping: each output pixel reads the source point rotated back by −θ, so
    # every output pixel gets exactly one value (forward mapping would leave holes).
    src_y = cos * u + sin * v + cy
    src_x = -sin * u + cos * v + cx
    # The image gets a one-pixel frame of zeros (rows −1 and H, columns −1 and W). Clipping
    # the source point into [−1, H] and its top-left neighbour to at most H − 1 keeps all
    # four reads inside the framed array, and points far outside read only the frame's
    # zeros: that is the zero fill, without masks.
    np.clip(src_y, -1, height, out=src_y)
    np.clip(src_x, -1, width, out=src_x)
    y0 = np.minimum(np.floor(src_y), height - 1)
    x0 = np.minimum(np.floor(src_x), width - 1)
    work = images.dtype if images.dtype.kind == "f" else np.dtype(np.float64)
    wy = (src_y - y0).astype(work).reshape(n, 1, -1)
    wx = (src_x - x0).astype(work).reshape(n, 1, -1)
    channels = images.shape[1]
    padded = np.zeros((n, channels, height + 2, width + 2), dtype=work)
    padded[:, :, 1:-1, 1:-1] = images
    stride = width + 2
    # One flat index per output pixel and channel: image base + top-left neighbour.
    base = (np.arange(n * channels) * padded[0, 0].size).reshape(n, channels, 1)
    corner = ((y0 + 1) * stride + (x0 + 1)).astype(np.intp).reshape(n, 1, -1)
    index = base + corner
    flat = padded.reshape(-1)
    top = flat.take(index) * (1 - wx) + flat.take(index + 1) * wx
    bottom = flat.take(index + stride) * (1 - wx) + flat.take(index + stride + 1) * wx
    out = top * (1 - wy) + bottom * wy
    return _cast_like(out, images.dtype).reshape(shape)


# -- random transforms -------------------------------------------------------------------
class Compose:
    """Apply transforms in order, all drawing from the same ``rng``."""

    def __init__(self, transforms: Iterable[Transform]) -> None:
        self.transforms = list(transforms)
        for position, transform in enumerate(self.transforms):
            if not callable(transform):
                raise TypeError(
                    f"Compose expected callables (x_batch, rng) -> x_batch, got "
                    f"{type(transform).__name__} at position {position}"
                )

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = as_array(x)
        if not self.transforms:
            return out.copy()
        for transform in self.transforms:
            out = transform(out, rng)
        return out

    def __len__(self) -> int:
        return len(self.transforms)

    def __iter__(self) -> Iterator[Transform]:
        return iter(self.transforms)

    def __repr__(self) -> str:
        return f"Compose([{', '.join(repr(t) for t in self.transforms)}])"


def _check_rng(name: str, rng: Any) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name} expected rng to be a numpy.random.Generator (e.g. "
            f"np.random.default_rng(0)), got {type(rng).__name__}"
        )
    return rng


def _check_number(
    name: str, arg: str, value: Any, integer: bool = False
) -> int | float | np.number:
    """``value`` itself (an int or float, NumPy's too) once it is a finite number >= 0."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        kind = "an int" if integer else "a number"
        raise TypeError(f"{name} expected {arg} to be {kind}, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} expected {arg} >= 0, got {value}")
    return value


class GaussianNoise:
    """Add independent N(0, std²) noise to every value of a floating-point batch (N, ...)."""

    def __init__(self, std: float) -> None:
        self.std = float(_check_number("GaussianNoise", "std", std))

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        array = as_array(x)
        _check_rng("GaussianNoise", rng)
        if array.dtype.kind != "f":
            raise TypeError(
                f"GaussianNoise expected a floating-point batch, got dtype {array.dtype}"
            )
        # Draw in float32 for float32 (and smaller) data: half the random bits, same dtype out.
        noise_dtype = np.float64 if array.dtype.itemsize >= 8 else np.float32
        noise = rng.standard_normal(array.shape, dtype=noise_dtype)
        noise *= self.std
        return (array + noise).astype(array.dtype, copy=False)

    def __repr__(self) -> str:
        return f"GaussianNoise(std={self.std})"


class RandomShift:
    """Shift each image by whole pixels drawn uniformly from [-max_shift, max_shift] on
    each axis (independently per image), filling with zeros. See :func:`shift_images`."""

    def __init__(self, max_shift: int = 1, image_shape: tuple[int, ...] = (8, 8)) -> None:
        self.max_shift = int(_check_number("RandomShift", "max_shift", max_shift, integer=True))
        self.image_shape = _check_image_shape("RandomShift", image_shape)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_rng("RandomShift", rng)
        images, _ = _as_images(x, self.image_shape, "RandomShift")
        shifts = rng.integers(-self.max_shift, self.max_shift + 1, size=(images.shape[0], 2))
        return shift_images(x, shifts[:, 0], shifts[:, 1], self.image_shape)

    def __repr__(self) -> str:
        return f"RandomShift(max_shift={self.max_shift}, image_shape={self.image_shape})"


class RandomFlip:
    """Mirror each image with probability ``p``: left-right if ``horizontal``, top-bottom
    if ``vertical`` (each decided independently per image)."""

    def __init__(
        self,
        horizontal: bool = True,
        vertical: bool = False,
        p: float = 0.5,
        image_shape: tuple[int, ...] = (8, 8),
    ) -> None:
        if not (horizontal or vertical):
            raise ValueError("RandomFlip expected horizontal=True or vertical=True, got neither")
        checked = _check_number("RandomFlip", "p", p)
        if checked > 1:
            raise ValueError(f"RandomFlip expected a probability p in [0, 1], got {p}")
        self.horizontal = bool(horizontal)
        self.vertical = bool(vertical)
        self.p = float(checked)
        self.image_shape = _check_image_shape("RandomFlip", image_shape)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_rng("RandomFlip", rng)
        images, shape = _as_images(x, self.image_shape, "RandomFlip")
        out = images.copy()
        n = images.shape[0]
        if self.horizontal:
            chosen = rng.random(n) < self.p
            out[chosen] = out[chosen][..., ::-1]
        if self.vertical:
            chosen = rng.random(n) < self.p
            out[chosen] = out[chosen][..., ::-1, :]
        return out.reshape(shape)

    def __repr__(self) -> str:
        return (
            f"RandomFlip(horizontal={self.horizontal}, vertical={self.vertical}, p={self.p}, "
            f"image_shape={self.image_shape})"
        )


class RandomRotation:
    """Rotate each image by an angle drawn uniformly from [-max_degrees, max_degrees]
    (bilinear interpolation, zero fill). See :func:`rotate_images`."""

    def __init__(self, max_degrees: float = 10, image_shape: tuple[int, ...] = (8, 8)) -> None:
        self.max_degrees = float(_check_number("RandomRotation", "max_degrees", max_degrees))
        if self.max_degrees > 180:
            raise ValueError(
                f"RandomRotation expected max_degrees in [0, 180], got {self.max_degrees}"
            )
        self.image_shape = _check_image_shape("RandomRotation", image_shape)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _check_rng("RandomRotation", rng)
        images, _ = _as_images(x, self.image_shape, "RandomRotation")
        angles = rng.uniform(-self.max_degrees, self.max_degrees, size=images.shape[0])
        return rotate_images(x, angles, self.image_shape)

    def __repr__(self) -> str:
        return f"RandomRotation(max_degrees={self.max_degrees}, image_shape={self.image_shape})"


# -- the spec parser ---------------------------------------------------------------------
_SPEC_HELP = "noise:STD, shift:PIXELS, flip (or flip:h, flip:v, flip:hv), rotate:DEGREES"


def _spec_number(item: str, name: str, text: str | None, placeholder: str, integer: bool):
    if text is None or text == "":
        example = {"noise": "noise:0.05", "shift": "shift:1", "rotate": "rotate:10"}[name]
        raise ValueError(
            f"augmentation '{item}' needs a value: {name}:{placeholder}, e.g. {example}"
        )
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ValueError(
            f"augmentation '{item}': {placeholder} must be {kind}, got {text!r}"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"augmentation '{item}': {placeholder} must be >= 0, got {text!r}")
    return value


def parse_augment(spec: str, image_shape: tuple[int, ...] = (8, 8)) -> Compose:
    """Build a transform from a comma-separated spec, e.g. ``"shift:1,rotate:10,noise:0.05"``.

    Items (applied in the order given): ``noise:STD`` (:class:`GaussianNoise`),
    ``shift:PIXELS`` (:class:`RandomShift`), ``flip`` / ``flip:h`` / ``flip:v`` /
    ``flip:hv`` (:class:`RandomFlip`, p=0.5), ``rotate:DEGREES`` (:class:`RandomRotation`).
    ``"none"`` gives the identity. ``image_shape`` is passed to the image transforms.
    """
    if not isinstance(spec, str):
        raise TypeError(f"parse_augment expected a string spec, got {type(spec).__name__}")
    text = spec.strip()
    if text.lower() == "none":
        return Compose([])
    if not text:
        raise ValueError(
            f"parse_augment expected a spec like 'shift:1,noise:0.05' ({_SPEC_HELP}), got ''"
        )
    transforms: list[Transform] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            raise ValueError(f"parse_augment found an empty item in {spec!r} (a stray comma?)")
        name, colon, text = item.partition(":")
        name = name.strip().lower()
        value = text.strip() if colon else None
        if name == "noise":
            transforms.append(GaussianNoise(_spec_number(item, name, value, "STD", False)))
        elif name == "shift":
            pixels = _spec_number(item, name, value, "PIXELS", True)
            transforms.append(RandomShift(pixels, image_shape=image_shape))
        elif name == "rotate":
            degrees = _spec_number(item, name, value, "DEGREES", False)
            if degrees > 180:
                raise ValueError(
                    f"augmentation '{item}': DEGREES must be at most 180, got {value!r}"
                )
            transforms.append(RandomRotation(degrees, image_shape=image_shape))
        elif name == "flip":
            axes = {None: "h", "": "h", "h": "h", "v": "v", "hv": "hv", "vh": "hv"}.get(
                value.lower() if value is not None else None
            )
            if axes is None:
                raise ValueError(
                    f"augmentation '{item}': flip takes no value or one of h, v, hv, got {value!r}"
                )
            transforms.append(
                RandomFlip(horizontal="h" in axes, vertical="v" in axes, image_shape=image_shape)
            )
        else:
            raise ValueError(
                f"parse_augment: unknown augmentation {name!r} in {spec!r}; expected {_SPEC_HELP}"
            )
    return Compose(transforms)
