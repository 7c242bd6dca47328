"""Downloading real datasets, tested against fixture files served from 127.0.0.1 (never the internet)."""

import gzip
import hashlib
import http.server
import io
import socket
import struct
import tarfile
import threading
from functools import partial

import numpy as np
import pytest
import soundfile as sf

from core.data import online
from core.errors import UserInputError


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (base_url, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", www
    httpd.shutdown()


def idx_bytes(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return gzip.compress(header + arr.astype(np.uint8).tobytes())


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def write_mnist(www, rng, n_train=12, n_test=6):
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": (np.arange(n_test) + 3) % 10,
    }
    sums = {}
    for name, arr in arrays.items():
        data = idx_bytes(arr)
        (www / name).write_bytes(data)
        sums[name] = md5(data)
    return arrays, sums


def test_mnist_layout_downloads_verifies_and_loads(server, tmp_path, rng):
    base, www = server
    arrays, sums = write_mnist(www, rng)
    seen = []
    ds = online.fetch("mnist", tmp_path / "data", base_url=base, checksums=sums,
                      progress=lambda f, i, n, done, total: seen.append((f, i, n, done, total)))  # fmt: skip
    assert ds.x.shape == (18, 1, 28, 28) and ds.n_classes == 10
    np.testing.assert_allclose(ds.x[:12, 0] * 255, arrays["train-images-idx3-ubyte.gz"], atol=1e-4)
    np.testing.assert_array_equal(ds.y[12:], arrays["t10k-labels-idx1-ubyte.gz"])
    assert sorted(np.concatenate([ds.splits["train"], ds.splits["val"]])) == list(range(12))
    assert list(ds.splits["test"]) == list(range(12, 18))
    # progress was reported for each file, ending at its full size
    last = {f: (done, total) for f, _, _, done, total in seen}
    assert set(last) == set(sums)
    assert all(done == total for done, total in last.values())


def test_a_verified_file_is_not_downloaded_twice(server, tmp_path, rng):
    base, www = server
    _, sums = write_mnist(www, rng)
    online.fetch("mnist", tmp_path / "data", base_url=base, checksums=sums)
    for f in www.iterdir():
        f.unlink()  # the server no longer has them
    ds = online.fetch("mnist", tmp_path / "data", base_url=base, checksums=sums)
    assert ds.x.shape[0] == 18


def test_checksum_mismatch_is_refused_and_deleted(server, tmp_path, rng):
    base, www = server
    _, sums = write_mnist(www, rng)
    sums["train-images-idx3-ubyte.gz"] = "0" * 32
    with pytest.raises(UserInputError, match="does not match its published checksum"):
        online.fetch("mnist", tmp_path / "data", base_url=base, checksums=sums)
    assert not list((tmp_path / "data").rglob("train-images*"))


def test_missing_file_gives_the_server_answer(server, tmp_path):
    base, _ = server
    with pytest.raises(UserInputError, match="answered 404"):
        online.fetch("mnist", tmp_path / "data", base_url=base, checksums={"nothere.gz": "0" * 32})


def test_offline_gives_one_sentence(tmp_path):
    with socket.socket() as s:  # a port on which nobody listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserInputError, match="seems to be offline"):
        online.fetch("fashion_mnist", tmp_path, base_url=f"http://127.0.0.1:{port}/")


def wav_bytes(x, sr=16000):
    buf = io.BytesIO()
    sf.write(buf, x, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def test_speech_commands_keeps_only_chosen_words_and_uses_its_lists(server, tmp_path, rng):
    base, www = server
    members = {}
    for word in ("yes", "no", "up"):
        for i in range(4):
            members[f"{word}/spk{i}_nohash_0.wav"] = wav_bytes(
                rng.uniform(-0.5, 0.5, 16000 - i * 100)
            )
    members["_background_noise_/white.wav"] = wav_bytes(rng.uniform(-0.1, 0.1, 32000))
    members["validation_list.txt"] = b"yes/spk1_nohash_0.wav\nno/spk1_nohash_0.wav\n"
    members["testing_list.txt"] = b"yes/spk2_nohash_0.wav\nno/spk2_nohash_0.wav\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    archive = buf.getvalue()
    (www / "speech_commands_v0.02.tar.gz").write_bytes(archive)
    sums = {"speech_commands_v0.02.tar.gz": "sha256:" + hashlib.sha256(archive).hexdigest()}
    ds = online.fetch("speech_commands", tmp_path / "data", words=("yes", "no"), base_url=base,
                      checksums=sums)  # fmt: skip
    assert ds.class_names == ("yes", "no") and ds.x.shape == (8, 16000)
    assert not (tmp_path / "data" / "speech_commands" / "up").exists()
    assert (
        len(ds.splits["val"]) == 2 and len(ds.splits["test"]) == 2 and len(ds.splits["train"]) == 4
    )
    # the clip shorter than 1 s is zero-padded, the samples are the file's
    ref, _ = sf.read(io.BytesIO(members["yes/spk3_nohash_0.wav"]), dtype="float32")
    np.testing.assert_allclose(ds.x[3, : len(ref)], ref, atol=1e-6)
    assert np.all(ds.x[3, len(ref) :] == 0)


def test_tar_with_escaping_path_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("../evil.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    path = tmp_path / "a.tar.gz"
    path.write_bytes(buf.getvalue())
    with pytest.raises(UserInputError, match="unsafe path"):
        online.extract_tar(path, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()


def test_cifar10_layout_through_torchvision(server, tmp_path, rng, monkeypatch):
    import pickle

    from torchvision.datasets import CIFAR10

    base, www = server
    batches, sums = {}, {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = {"data": rng.integers(0, 256, (4, 3072)).astype(np.uint8),
                         "labels": list(rng.integers(0, 10, 4))}  # fmt: skip
    files = {n: pickle.dumps(b) for n, b in batches.items()}
    files["batches.meta"] = pickle.dumps({"label_names": list(online.CIFAR_CLASSES)})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    (www / "cifar-10-python.tar.gz").write_bytes(buf.getvalue())
    sums = {"cifar-10-python.tar.gz": md5(buf.getvalue())}
    # torchvision checks each batch against its published MD5: give it the fixture's
    monkeypatch.setattr(
        CIFAR10,
        "train_list",
        [[f"data_batch_{i}", md5(files[f"data_batch_{i}"])] for i in range(1, 6)],
    )
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5(files["test_batch"])]])
    monkeypatch.setattr(CIFAR10, "meta", {"filename": "batches.meta", "key": "label_names",
                                          "md5": md5(files["batches.meta"])})  # fmt: skip
    ds = online.fetch("cifar10", tmp_path / "data", base_url=base, checksums=sums)
    assert ds.x.shape == (24, 3, 32, 32) and ds.class_names == online.CIFAR_CLASSES
    first = batches["data_batch_1"]["data"][0].reshape(3, 32, 32)
    np.testing.assert_allclose(ds.x[0] * 255, first, atol=1e-4)
    assert ds.y[20:].tolist() == batches["test_batch"]["labels"]


def test_limit_per_class_keeps_the_first_examples(server, tmp_path, rng):
    base, www = server
    arrays, sums = write_mnist(www, rng, n_train=40, n_test=20)
    ds = online.fetch("mnist", tmp_path / "d", base_url=base, checksums=sums, limit_per_class=2)
    train_labels = arrays["train-labels-idx1-ubyte.gz"]
    assert len(ds.splits["train"]) + len(ds.splits["val"]) == 20  # 2 of each of 10 digits
    assert sorted(ds.y[:20].tolist()) == sorted(np.repeat(np.arange(10), 2).tolist())
    np.testing.assert_allclose(ds.x[0, 0] * 255, arrays["train-images-idx3-ubyte.gz"][0], atol=1e-4)
    assert train_labels[0] == ds.y[0]


def _tar(path, entries):
    with tarfile.open(path, "w:gz") as tf:
        for info, data in entries:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)


def test_tar_with_a_link_out_of_the_folder_is_refused_before_anything_is_written(tmp_path):
    ok = tarfile.TarInfo("words/yes/a.wav")
    ok.size = 3
    link = tarfile.TarInfo("words/yes/b.wav")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    path = tmp_path / "a.tar.gz"
    _tar(path, [(ok, b"abc"), (link, None)])
    with pytest.raises(UserInputError, match="unsafe path.*b.wav"):
        online.extract_tar(path, tmp_path / "out")
    assert not list((tmp_path / "out").rglob("*.wav"))  # the ordinary entry was not written either


def test_tar_keeps_only_the_regular_files_asked_for(tmp_path):
    entries = []
    for name, data in [("w/yes/a.wav", b"aa"), ("w/no/b.wav", b"bbb"), ("w/README", b"r")]:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        entries.append((info, data))
    folder = tarfile.TarInfo("w/up")
    folder.type = tarfile.DIRTYPE
    entries.append((folder, None))
    path = tmp_path / "a.tar"
    _tar(path, entries)
    n = online.extract_tar(path, tmp_path / "out", keep=lambda rel: rel.endswith(".wav"))
    assert n == 2
    assert (tmp_path / "out" / "w" / "no" / "b.wav").read_bytes() == b"bbb"
    assert not (tmp_path / "out" / "w" / "README").exists()
