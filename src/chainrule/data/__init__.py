"""Data handling: datasets and batching, splits, scaling, encoding and augmentation.

NumPy only. Randomness always comes in through ``generator=`` / ``seed=`` / ``rng``.
"""

from .augment import (
    Compose,
    GaussianNoise,
    RandomFlip,
    RandomRotation,
    RandomShift,
    Transform,
    parse_augment,
    rotate_images,
    shift_images,
)
from .encoding import one_hot
from .loader import DataLoader, TensorDataset
from .scaling import StandardScaler
from .split import train_test_split

__all__ = [
    "Compose",
    "DataLoader",
    "GaussianNoise",
    "RandomFlip",
    "RandomRotation",
    "RandomShift",
    "StandardScaler",
    "TensorDataset",
    "Transform",
    "one_hot",
    "parse_augment",
    "rotate_images",
    "shift_images",
    "train_test_split",
]
