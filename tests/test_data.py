"""Data: verified local mirror, clear errors for missing/corrupt files, the official formats."""
import gzip
import pickle
import shutil
import struct

import numpy as np
import pytest
import torch

from nnrepro import data

from conftest import MIRROR

needs_mirror = pytest.mark.skipif(not (MIRROR / "MNIST").exists(), reason="no local MNIST mirror")


def _write_idx(path, array: np.ndarray):
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}i", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_roundtrip(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28))
    _write_idx(tmp_path / "x-idx3-ubyte.gz", images)
    assert np.array_equal(data.read_idx(tmp_path / "x-idx3-ubyte.gz"), images)


def test_read_cifar_batches(tmp_path):
    """Small files in CIFAR-10's pickled-batch format, as the official archive holds them."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name, n in [*[(f"data_batch_{i}", 4) for i in range(1, 6)], ("test_batch", 3)]:
        batch = {"batch_label": name, "labels": rng.integers(0, 10, n).tolist(),
                 "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "filenames": [f"{i}.png" for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    x_tr, y_tr, x_te, y_te = data.read_raw("cifar10", tmp_path)
    assert x_tr.shape == (20, 3072) and x_te.shape == (3, 3072) and y_tr.dtype == np.int64
    out = data.preprocess("cifar10", tmp_path, tmp_path / "processed" / "cifar10.pt")
    ds = data.load_processed(out)
    assert ds.n_features == 3072 and abs(ds.x_train.mean().item()) < 1e-5


def test_digits_needs_no_download(tmp_path):
    data.fetch("digits", tmp_path / "raw")
    ds = data.load_processed(data.preprocess("digits", tmp_path / "raw", tmp_path / "digits.pt"))
    assert (len(ds.y_train), len(ds.y_test), ds.n_features, ds.n_classes) == (1347, 450, 64, 10)
    assert ds.x_train.dtype == torch.float32


def test_missing_processed_file_is_named(tmp_path):
    with pytest.raises(data.DataError, match="nothing.pt"):
        data.load_processed(tmp_path / "nothing.pt")


@needs_mirror
def test_corrupt_mirror_names_file_and_checksum(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(MIRROR / "MNIST", mirror / "MNIST")
    bad = mirror / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(data.DataError) as err:
        data.fetch("mnist", tmp_path / "raw", mirror)
    msg = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "ec29112dd5afa0611ce80d1b7f02629c" in msg
    assert "corrupt" in msg


@needs_mirror
def test_missing_mirror_file_names_file_and_checksum(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(MIRROR / "MNIST", mirror / "MNIST")
    (mirror / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DataError, match="missing.*train-labels-idx1-ubyte.gz.*d53e105ee54ea40749a09fcbcd1e9432"):
        data.fetch("mnist", tmp_path / "raw", mirror)


@needs_mirror
def test_real_mnist_from_mirror(tmp_path):
    """The real files, verified and extracted by torchvision (download=True finds them present)."""
    data.fetch("mnist", tmp_path / "raw", MIRROR)
    ds = data.load_processed(data.preprocess("mnist", tmp_path / "raw", tmp_path / "mnist.pt"))
    assert (len(ds.y_train), len(ds.y_test), ds.n_features) == (60000, 10000, 784)
    assert ds.y_test[:5].tolist() == [7, 2, 1, 0, 4]


def test_corrupt_or_truncated_processed_file_is_named_and_refused(tmp_path):
    """Flipped bytes inside a tensor record still load with torch.load: the content sha256
    written with the file catches them. A truncated file names itself too."""
    out = data.preprocess("digits", tmp_path / "raw", tmp_path / "processed" / "digits.pt")
    assert data.load_processed(out).x_train.shape[0] == 1347
    blob = torch.load(out)
    assert blob["sha256"] == data.content_hash(blob) and "nnrepro" in blob["made_from"]
    raw = bytearray(out.read_bytes())
    pos = raw.find(blob["x_train"].numpy().tobytes()[:64])       # inside the x_train record
    assert pos > 0
    raw[pos + 10: pos + 14] = bytes(255 - b for b in raw[pos + 10: pos + 14])
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(raw))
    torch.load(flipped)                                            # still opens
    with pytest.raises(data.DataError, match=r"corrupt processed data file .*flipped\.pt.*rebuilds it"):
        data.load_processed(flipped)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(out.read_bytes()[:5000])
    with pytest.raises(data.DataError, match=r"unreadable processed data file .*truncated\.pt"):
        data.load_processed(truncated)
    assert not list((tmp_path / "processed").glob("*.tmp"))       # no temp file left behind


def test_standardized_pixels_stay_bounded(tmp_path):
    """A pixel that is almost always 0 must not turn a rare stroke into a huge z (its std is
    floored at the std of all pixels): on digits every |z| stays below 0..16's range over it."""
    from nnrepro.data import load_processed, preprocess
    out = preprocess("digits", tmp_path / "raw", tmp_path / "processed" / "digits.pt")
    d = load_processed(out)
    assert d.x_train.abs().max() < 4 and d.x_test.abs().max() < 4


def test_a_download_without_network_ends_in_one_line_naming_the_data_set_and_data_mirror(tmp_path, monkeypatch, capsys):
    """Issue 28: MNIST not on disk and no network used to end `prepare` with torchvision's
    19-line traceback; now one line names the data set, the host and its failure, and data.mirror."""
    import socket
    import urllib.error
    import urllib.request

    from nnrepro.cli import main

    def offline(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(SystemExit) as e:
        main(["prepare", "--dataset", "mnist", "--root", str(tmp_path), "--out", str(tmp_path / "p" / "mnist.pt")])
    message = str(e.value.code)
    assert len(message.splitlines()) == 1, message
    assert message.startswith("nnrepro prepare: mnist is not under") and "data.mirror" in message
    assert "ossci-datasets.s3.amazonaws.com" in message and "Name or service not known" in message, message
    assert not (tmp_path / "p" / "mnist.pt").exists()
