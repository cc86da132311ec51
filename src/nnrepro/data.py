"""Data sets: download (or take from a local mirror), verify checksums, preprocess once.

``digits`` (sklearn, embedded: no download) is the quick profile's image set; ``mnist``,
``fashion_mnist`` and ``cifar10`` are fetched with torchvision (``download=True``, md5-checked),
or copied from a local mirror laid out as torchvision's ``root`` after checking each file's md5
against torchvision's own table. The raw files are parsed here (IDX, CIFAR pickled batches) and
saved once as ``<root>/processed/<name>.pt``: uint8 pixels, int64 labels, and the train set's
per-feature mean/std used to standardize them at load time.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import logging
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

log = logging.getLogger("nnrepro")

DATASETS = ["digits", "mnist", "fashion_mnist", "cifar10"]


class DataError(RuntimeError):
    """A data file is missing or corrupt; the message names it and its expected md5."""


def md5(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _torchvision_class(name: str):
    from torchvision import datasets

    return {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST,
            "cifar10": datasets.CIFAR10}[name]


def expected_files(name: str) -> list[tuple[str, str]]:
    """(path relative to torchvision's root, md5) of the archives torchvision checks for ``name``."""
    cls = _torchvision_class(name)
    if name == "cifar10":
        return [(cls.filename, cls.tgz_md5)]
    return [(f"{cls.__name__}/raw/{fname}", md5sum) for fname, md5sum in cls.resources]


def verify(path: Path, expected_md5: str) -> None:
    if not path.exists():
        raise DataError(f"missing data file {path} (expected md5 {expected_md5})")
    got = md5(path)
    if got != expected_md5:
        raise DataError(f"corrupt data file {path}: md5 {got}, expected md5 {expected_md5}")


def fetch(name: str, raw_root: Path, mirror: str | Path | None = None) -> Path:
    """Make ``name``'s verified raw files present under ``raw_root`` (torchvision layout).

    With a mirror, every expected file is checked there first (a missing or corrupt one raises
    ``DataError`` naming it and its md5) and copied; without one, torchvision downloads and
    checks them. Either way torchvision then finds verified archives and extracts them.
    """
    raw_root = Path(raw_root)
    raw_root.mkdir(parents=True, exist_ok=True)
    if name == "digits":
        return raw_root  # shipped inside scikit-learn
    if mirror is not None:
        for rel, md5sum in expected_files(name):
            src, dst = Path(mirror) / rel, raw_root / rel
            verify(src, md5sum)
            if not (dst.exists() and md5(dst) == md5sum):
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
            log.info("%s: %s verified (md5 %s)", name, rel, md5sum)
    cls = _torchvision_class(name)
    try:
        for train in (True, False):  # download=True: md5-verified download, or reuse + extract
            cls(str(raw_root), train=train, download=True)
    except (OSError, RuntimeError) as e:   # URLError is an OSError; MNIST wraps it in a RuntimeError
        if mirror is not None or not _is_download_failure(e):
            raise
        raise DataError(f"{name} is not under {raw_root} and its download from {_host(cls)} failed "
                        f"({_reason(e)}): without network, set data.mirror to a local folder laid "
                        f"out as torchvision's root that holds it") from None
    return raw_root


def _host(cls) -> str:
    from urllib.parse import urlparse

    urls = getattr(cls, "mirrors", None) or [getattr(cls, "url", "")]
    return ", ".join(dict.fromkeys(urlparse(u).hostname or u for u in urls))


def _is_download_failure(e: BaseException) -> bool:
    from urllib.error import URLError

    return isinstance(e, (URLError, TimeoutError, ConnectionError)) or \
        (isinstance(e, RuntimeError) and str(e).startswith("Error downloading"))


def _reason(e: BaseException) -> str:
    """The failure in one line: ``<urlopen error [Errno -2] Name or service not known>``."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    urlopen = [line for line in lines if line.startswith("<urlopen error")]
    return (urlopen or lines or [type(e).__name__])[-1]


# ---- parsers of the official formats ------------------------------------------------------

def read_idx(path: Path) -> np.ndarray:
    """IDX file (MNIST format, optionally gzipped): magic, dims (big-endian int32), uint8 data."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = data[0] * 256 + data[1], data[2], data[3]
    if zero != 0 or dtype != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4)
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_cifar_batches(folder: Path, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 python batches: pickled dicts with b'data' (N×3072 uint8) and b'labels'."""
    xs, ys = [], []
    for n in names:
        with open(Path(folder) / n, "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        xs.append(np.asarray(batch["data"], dtype=np.uint8))
        ys.append(np.asarray(batch["labels"], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def read_raw(name: str, raw_root: Path, test_fraction: float = 0.25, seed: int = 0):
    """(x_train, y_train, x_test, y_test) as flat uint8 images and int64 labels."""
    raw_root = Path(raw_root)
    if name == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        d = load_digits()  # 1797 8×8 images, pixel values 0..16
        x = d.data.astype(np.uint8)
        x_tr, x_te, y_tr, y_te = train_test_split(x, d.target.astype(np.int64),
                                                  test_size=test_fraction, random_state=seed,
                                                  stratify=d.target)
        return x_tr, y_tr, x_te, y_te
    if name in ("mnist", "fashion_mnist"):
        folder = raw_root / _torchvision_class(name).__name__ / "raw"
        part = {p: folder / f"{p}-ubyte.gz" for p in
                ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")}
        x_tr, x_te = (read_idx(part[p]).reshape(-1, 784) for p in ("train-images-idx3", "t10k-images-idx3"))
        y_tr, y_te = (read_idx(part[p]).astype(np.int64) for p in ("train-labels-idx1", "t10k-labels-idx1"))
        return x_tr, y_tr, x_te, y_te
    if name == "cifar10":
        folder = raw_root / "cifar-10-batches-py"
        x_tr, y_tr = read_cifar_batches(folder, [f"data_batch_{i}" for i in range(1, 6)])
        x_te, y_te = read_cifar_batches(folder, ["test_batch"])
        return x_tr, y_tr, x_te, y_te
    raise ValueError(f"unknown dataset {name!r}; known: {DATASETS}")


def preprocess(name: str, raw_root: Path, out: Path) -> Path:
    """Save the processed tensors of ``name`` to ``out`` (one file, written atomically)."""
    x_tr, y_tr, x_te, y_te = read_raw(name, raw_root)
    xf = torch.from_numpy(x_tr.astype(np.float32))
    blob = {
        "name": name,
        "x_train": torch.from_numpy(np.array(x_tr)),
        "y_train": torch.from_numpy(np.array(y_tr)),
        "x_test": torch.from_numpy(np.array(x_te)),
        "y_test": torch.from_numpy(np.array(y_te)),
        "mean": xf.mean(0),
        # per-pixel std, floored at the std of all pixels: a pixel that is almost always 0 must
        # not turn a rare stroke into |z| ~ 200 (MNIST, raw 0..255), which wrecks the NLL
        "std": xf.std(0).clamp_min(xf.std().item()),
        "n_classes": int(max(y_tr.max(), y_te.max()) + 1),
    }
    blob["made_from"] = {"raw": raw_checksums(name, raw_root), "nnrepro": _code_version()}
    blob["sha256"] = content_hash(blob)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    try:
        torch.save(blob, tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("%s: %d train / %d test images of %d features -> %s", name, len(y_tr), len(y_te),
             x_tr.shape[1], out)
    return out


TENSORS = ("x_train", "y_train", "x_test", "y_test", "mean", "std")


def content_hash(blob: dict) -> str:
    """sha256 over the processed tensors' bytes, shapes and dtypes, and the class count."""
    h = hashlib.sha256()
    for k in TENSORS:
        t = blob[k].contiguous()
        h.update(f"{k}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.numpy().tobytes())
    h.update(str(blob["n_classes"]).encode())
    return h.hexdigest()


def raw_checksums(name: str, raw_root: Path) -> dict[str, str]:
    """md5 of the raw archives a processed file was made from (none for sklearn's digits)."""
    if name == "digits":
        return {}
    return {rel: md5(Path(raw_root) / rel) for rel, _ in expected_files(name)
            if (Path(raw_root) / rel).exists()}


def _code_version() -> str:
    from nnrepro import __version__

    return f"{__version__} data.py sha256 {hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]}"


@dataclass
class Dataset:
    """A processed data set, standardized, resident on one device."""
    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]


def load_processed(path: str | Path, device: torch.device | str = "cpu") -> Dataset:
    path = Path(path)
    if not path.exists():
        raise DataError(f"missing processed data file {path}: run the prepare step first")
    fix = "delete it and run `snakemake` again: the prepare_data rule rebuilds it"
    try:
        b = torch.load(path, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - truncated or not a torch file: say which file
        raise DataError(f"unreadable processed data file {path} ({type(e).__name__}: {e}); {fix}") from None
    if b.get("sha256") != content_hash(b):
        raise DataError(f"corrupt processed data file {path}: its content does not match the "
                        f"sha256 it was written with; {fix}")
    mean, std = b["mean"], b["std"]

    def standardize(x):
        return ((x.float() - mean) / std).to(device)

    return Dataset(b["name"], standardize(b["x_train"]), b["y_train"].to(device),
                   standardize(b["x_test"]), b["y_test"].to(device), int(b["n_classes"]))


def train_subset(ds, n: int | None):
    """The data set with its training set cut to ``n`` examples drawn once (a fixed seed, the
    same for every run and seed, so runs differ only in their own randomness); None: all of it
    (the settings' ``train_subset: null``). The test set stays whole. Used by the MNIST profile
    to fit many short runs in its budget (A, B, G)."""
    if n is None or n >= len(ds.y_train):
        return ds
    idx = torch.randperm(len(ds.y_train), generator=torch.Generator().manual_seed(0))[:n]
    idx = idx.to(ds.x_train.device)
    return dataclasses.replace(ds, x_train=ds.x_train[idx], y_train=ds.y_train[idx])
