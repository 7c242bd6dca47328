"""Real datasets, for when the machine is online: download, verify, unpack, load.

Every file is streamed to disk with a progress callback and checked against a published
checksum before anything reads it; archives are unpacked with the same path rules as
users' zips (nothing may land outside the target folder). When the network cannot be
reached, a UserInputError says so in one sentence.

Datasets:

* ``mnist``, ``fashion_mnist``: the IDX files torchvision knows, parsed by torchvision.
* ``cifar10``: the python-version archive, parsed by torchvision (its batches are pickles,
  read only after the archive's published MD5 has matched).
* ``speech_commands``: Google Speech Commands v2; only the chosen words are unpacked, and
  decoded with soundfile (1 s, 16 kHz); its own validation and test lists give the splits.

``base_url`` and ``checksums`` can be overridden, which the tests use to serve small fixture
files in the real layout from 127.0.0.1.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import posixpath
import tarfile
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from core.errors import UserInputError

Progress = Callable[[int, int | None], None]  # (bytes so far, total bytes or None)

MNIST_FILES = {  # file name -> md5, as published with the dataset (and in torchvision)
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
SOURCES = {
    "mnist": ("https://ossci-datasets.s3.amazonaws.com/mnist/", MNIST_FILES),
    "fashion_mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", FASHION_FILES),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",
                {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"}),
    "speech_commands": ("http://download.tensorflow.org/data/", {
        "speech_commands_v0.02.tar.gz":
            "sha256:af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"}),
}  # fmt: skip
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")  # fmt: skip
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck")  # fmt: skip
SPEECH_WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
TITLES = {"mnist": "MNIST handwritten digits (11 MB)",
          "fashion_mnist": "Fashion-MNIST clothing (30 MB)",
          "cifar10": "CIFAR-10 colour photos (163 MB)",
          "speech_commands": "Google Speech Commands v2 (2.3 GB; chosen words only are kept)"}  # fmt: skip


def data_dir() -> Path:
    """Where downloads are kept: $CNN_DATA_DIR, else ~/.cache/cnn-explainer."""
    return Path(os.environ.get("CNN_DATA_DIR") or Path.home() / ".cache" / "cnn-explainer")


def mirror() -> str | None:
    """An optional local mirror of the original files ($CNN_DATASETS_BASE_URL), same checksums."""
    return os.environ.get("CNN_DATASETS_BASE_URL") or None


_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    """One lock per destination file, so two sessions never write the same download at once."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(str(path), threading.Lock())


# --------------------------------------------------------------------------- download


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, checksum: str) -> bool:
    """``checksum`` is an MD5 hex digest, or "sha256:<hex>"."""
    algo, _, value = checksum.rpartition(":")
    return _digest(path, algo or "md5") == value.lower()


def download(url: str, dest: Path, *, checksum: str, progress: Progress | None = None,
             timeout: float = 30.0) -> Path:  # fmt: skip
    """Stream ``url`` to ``dest`` (via a .part file), then verify it; reuse a verified copy."""
    dest = Path(dest)
    with _lock_for(dest):
        return _download_locked(url, dest, checksum=checksum, progress=progress, timeout=timeout)


class _PoochProgress:
    """The progress-bar object pooch's downloader drives (total, update, reset, close)."""

    def __init__(self, progress: Callable[[int, int | None], None]) -> None:
        self.progress, self.total, self.done = progress, None, 0

    def update(self, n: int) -> None:
        self.done += n
        total = self.total or None
        self.progress(min(self.done, total) if total else self.done, total)

    def reset(self) -> None:
        self.done = 0

    def close(self) -> None:
        pass


def _download_locked(url: str, dest: Path, *, checksum: str, progress, timeout: float) -> Path:
    """pooch streams to a temporary file, checks the hash, then moves it into place; a verified
    copy already there is reused."""
    import pooch
    import requests

    pooch.get_logger().setLevel("WARNING")
    algo, _, value = checksum.rpartition(":")
    bar = _PoochProgress(progress) if progress else False
    downloader = pooch.HTTPDownloader(progressbar=bar, chunk_size=1 << 16, timeout=timeout)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        path = pooch.retrieve(url, known_hash=f"{algo or 'md5'}:{value.lower()}",
                              fname=dest.name, path=dest.parent, downloader=downloader)  # fmt: skip
    except requests.HTTPError as err:
        code = err.response.status_code if err.response is not None else "an error"
        raise UserInputError(f"The server answered {code} for {url}.") from None
    except (requests.RequestException, OSError) as err:
        raise UserInputError(
            f"Could not download {url} ({type(err).__name__}). This machine seems to be "
            "offline; the datasets that ship with the app still work."
        ) from None
    except ValueError:  # pooch: the hash of the download does not match
        raise UserInputError(
            f"The file downloaded from {url} does not match its published checksum (a broken "
            "or tampered download); it was deleted. Try again later."
        ) from None
    return Path(path)


def _report(progress, filename, index, n_files, done, total) -> None:
    progress(filename, index, n_files, done, total)


def _fetch_all(name: str, root: Path, base_url, checksums, progress) -> dict[str, Path]:
    default_base, files = SOURCES[name]
    files = checksums or files
    base = base_url or default_base
    out = {}
    n = len(files)
    for i, (filename, checksum) in enumerate(files.items()):
        step = None
        if progress:
            step = partial(_report, progress, filename, i, n)
        out[filename] = download(base + filename, root / name / "raw" / filename,
                                 checksum=checksum, progress=step)  # fmt: skip
    return out


# --------------------------------------------------------------------------- unpacking


def _safe_member(name: str) -> str | None:
    name = name.replace("\\", "/")
    if name.startswith("/") or ".." in name.split("/"):
        return None
    return posixpath.normpath(name)


def extract_tar(path: Path, target: Path, *, keep: Callable[[str], bool] = lambda _: True) -> int:
    """Unpack the regular files of a tar archive whose names ``keep`` accepts.

    The standard library's "data" extraction filter refuses absolute paths, paths that
    leave ``target``, links that point outside it and device files; an archive with any of
    them is refused whole.
    """
    target.mkdir(parents=True, exist_ok=True)
    kept = []

    def only_kept(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        member = tarfile.data_filter(member, dest)  # raises FilterError for an unsafe member
        if not member.isfile() or not keep(posixpath.normpath(member.name)):
            return None
        kept.append(member.name)
        return member

    with tarfile.open(path, "r:*") as tf:
        members = tf.getmembers()
        try:  # check every member before writing anything
            for member in members:
                tarfile.data_filter(member, str(target))
        except tarfile.FilterError as err:
            raise UserInputError(
                f"The archive contains an unsafe path ({err.tarinfo.name!r}); nothing was unpacked."
            ) from None
        tf.extractall(target, members=members, filter=only_kept)
    return len(kept)


# --------------------------------------------------------------------------- datasets


def _idx(path: Path) -> np.ndarray:
    """Read an IDX file (MNIST's format) with torchvision's reader, after un-gzipping it."""
    from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

    raw = path.with_suffix("") if path.suffix == ".gz" else path
    if not raw.exists():
        raw.write_bytes(gzip.decompress(path.read_bytes()))
    try:
        return read_sn3_pascalvincent_tensor(str(raw), strict=False).numpy()
    except (AssertionError, RuntimeError, ValueError, IndexError) as err:
        raise UserInputError(f"{path.name} is not a readable IDX file ({err}).") from None


def _first_per_class(y: np.ndarray, limit: int | None) -> np.ndarray:
    """Indices of the first ``limit`` examples of each class (all when limit is None)."""
    if limit is None:
        return np.arange(len(y))
    keep = np.concatenate([np.flatnonzero(y == c)[:limit] for c in np.unique(y)])
    return np.sort(keep)


def _image_dataset(name, x_train, y_train, x_test, y_test, class_names, *, val_fraction=0.1,
                   limit_per_class=None):  # fmt: skip
    from core.data.shipped import Dataset

    tr = _first_per_class(np.asarray(y_train), limit_per_class)
    te = _first_per_class(
        np.asarray(y_test), None if limit_per_class is None else max(limit_per_class // 5, 1)
    )
    x_train, y_train, x_test, y_test = (
        x_train[tr],
        np.asarray(y_train)[tr],
        x_test[te],
        np.asarray(y_test)[te],
    )

    x = np.concatenate([x_train, x_test]).astype(np.float32) / 255.0
    if x.ndim == 3:
        x = x[:, None]  # (N, 1, H, W)
    y = np.concatenate([y_train, y_test]).astype(np.int64)
    n_train = len(x_train)
    rng = np.random.default_rng(0)
    order = rng.permutation(n_train)
    n_val = int(round(n_train * val_fraction))
    splits = {"train": np.sort(order[n_val:]), "val": np.sort(order[:n_val]),
              "test": np.arange(n_train, len(x))}  # fmt: skip
    return Dataset(name, "image", x, y, tuple(class_names), splits, image_shape=tuple(x.shape[1:]))


def fetch(name: str, root: Path, *, words: tuple[str, ...] = SPEECH_WORDS, base_url: str | None = None,
          checksums: dict | None = None, progress=None, limit_per_class: int | None = None):  # fmt: skip
    """Download (once), verify and load a real dataset as a core.data.shipped.Dataset.

    ``progress(filename, file_index, n_files, bytes_done, bytes_total)`` is called while
    downloading. ``limit_per_class`` keeps the first N training examples of each class (and
    N/5 test examples), so a large set fits in memory and trains in minutes.
    """
    root = Path(root)
    if name not in SOURCES:
        raise UserInputError(f"Unknown dataset {name!r}: choose one of {', '.join(SOURCES)}.")
    paths = _fetch_all(name, root, base_url, checksums, progress)
    if name in ("mnist", "fashion_mnist"):
        names = [str(i) for i in range(10)] if name == "mnist" else FASHION_CLASSES
        return _image_dataset(name, _idx(paths["train-images-idx3-ubyte.gz"]),
                              _idx(paths["train-labels-idx1-ubyte.gz"]),
                              _idx(paths["t10k-images-idx3-ubyte.gz"]),
                              _idx(paths["t10k-labels-idx1-ubyte.gz"]), names,
                              limit_per_class=limit_per_class)  # fmt: skip
    if name == "cifar10":
        return _cifar(paths["cifar-10-python.tar.gz"], root / name, limit_per_class)
    return _speech_commands(paths["speech_commands_v0.02.tar.gz"], root / name, words)


def _cifar(archive: Path, folder: Path, limit_per_class: int | None = None):
    extract_tar(archive, folder, keep=lambda n: n.startswith("cifar-10-batches-py/"))
    from torchvision.datasets import CIFAR10

    train = CIFAR10(str(folder), train=True, download=False)
    test = CIFAR10(str(folder), train=False, download=False)
    to_chw = lambda a: np.transpose(a, (0, 3, 1, 2))  # noqa: E731  (N, H, W, C) -> (N, C, H, W)
    return _image_dataset("cifar10", to_chw(train.data), np.array(train.targets),
                          to_chw(test.data), np.array(test.targets), CIFAR_CLASSES,
                          limit_per_class=limit_per_class)  # fmt: skip


def _speech_commands(archive: Path, folder: Path, words: tuple[str, ...], sr: int = 16_000):
    import soundfile as sf

    from core.data.shipped import Dataset

    words = tuple(words)
    if len(words) < 2:
        raise UserInputError("Choose at least two words to classify.")
    wanted = set(words)
    extract_tar(archive, folder, keep=lambda n: n.split("/")[0] in wanted
                or n in ("validation_list.txt", "testing_list.txt"))  # fmt: skip
    lists = {}
    for split, fname in (("val", "validation_list.txt"), ("test", "testing_list.txt")):
        p = folder / fname
        lists[split] = set(p.read_text().split()) if p.exists() else set()
    xs, ys, split_of = [], [], []
    for label, word in enumerate(words):
        for wav in sorted((folder / word).glob("*.wav")):
            rel = f"{word}/{wav.name}"
            try:
                audio, rate = sf.read(io.BytesIO(wav.read_bytes()), dtype="float32", always_2d=True)
            except (RuntimeError, sf.LibsndfileError):
                continue
            if rate != sr:
                continue
            audio = audio.mean(axis=1)[:sr]
            xs.append(np.pad(audio, (0, sr - len(audio))))
            ys.append(label)
            split_of.append(
                "val" if rel in lists["val"] else "test" if rel in lists["test"] else "train"
            )
    if not xs:
        raise UserInputError(f"The archive holds no clips for the words {', '.join(words)}.")
    split_of = np.array(split_of)
    splits = {s: np.flatnonzero(split_of == s) for s in ("train", "val", "test")}
    return Dataset("speech_commands", "audio", np.stack(xs).astype(np.float32),
                   np.array(ys, dtype=np.int64), words, splits, sample_rate=sr)  # fmt: skip
