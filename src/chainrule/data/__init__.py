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
from .csv import Coded, Table, read_csv
from .datasets import load_digits
from .encoding import one_hot
from .errors import DataError
from .loader import DataLoader, TensorDataset
from .reading import from_frame, is_frame, read_table
from .scaling import StandardScaler
from .split import train_test_split
from .tabular import TabularEncoder

__all__ = [
    "Coded",
    "Compose",
    "DataError",
    "DataLoader",
    "GaussianNoise",
    "RandomFlip",
    "RandomRotation",
    "RandomShift",
    "StandardScaler",
    "Table",
    "TabularEncoder",
    "TensorDataset",
    "Transform",
    "from_frame",
    "is_frame",
    "load_digits",
    "one_hot",
    "parse_augment",
    "read_csv",
    "read_table",
    "rotate_images",
    "shift_images",
    "train_test_split",
]
