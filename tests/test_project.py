"""core.data.project: a whole project in one zip, read back through the hardened archive reader."""

import io
import json
import stat
import struct
import zipfile
import zlib

import numpy as np
import pytest
import torch

from core.data import project as projects
from core.data import users as userdata
from core.data.archive import read_class_zip
from core.errors import UserInputError

SR = 16_000


def tone(f0, *, seed, n=SR):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return (0.4 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(n)).astype(np.float32)


@pytest.fixture
def gathered():
    g = userdata.Gathered("audio")
    g.examples = {
        "low": [tone(200 + 10 * i, seed=i) for i in range(4)],
        "high / shrill": [tone(3000 + 50 * i, seed=10 + i) for i in range(5)],
        "background": [np.random.default_rng(20 + i).normal(0, 0.01, SR).astype(np.float32)
                       for i in range(4)],
    }  # fmt: skip
    g.names = {
        "low": [f"recording {i + 1}.wav" for i in range(4)],
        "high / shrill": [f"h{i}.ogg" for i in range(5)],
        "background": [f"room 1 {i + 1} of 4" for i in range(4)],
    }
    return g


def zip_of(members, links=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((stat.S_IFLNK if name in links else stat.S_IFREG) | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def members_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def test_clips_names_and_classes_come_back_exactly(gathered):
    data = projects.save_project(gathered, sr=SR)
    p = projects.load_project(data, sr=SR)
    g = p.gathered
    assert g.kind == "audio" and list(g.examples) == ["low", "high / shrill", "background"]
    assert g.names == gathered.names
    for label, items in gathered.examples.items():
        assert len(g.examples[label]) == len(items)
        for got, want in zip(g.examples[label], items, strict=True):
            assert got.dtype == np.float32
            np.testing.assert_array_equal(got, want)  # sample for sample
    assert p.bundle is None and p.model is None and p.problems == [] and p.notes == []


def test_the_zip_is_one_folder_per_class_with_a_manifest(gathered):
    members = members_of(projects.save_project(gathered, sr=SR))
    manifest = json.loads(members["project.json"])
    assert manifest["format"] == "cnn-explainer-project" and manifest["version"] == 1
    assert manifest["kind"] == "audio" and manifest["sample_rate"] == SR
    assert manifest["model"] is None
    assert [c["name"] for c in manifest["classes"]] == ["low", "high / shrill", "background"]
    # a slash cannot name a folder: the manifest keeps the name, the folder replaces it
    assert manifest["classes"][1]["files"][0] == "high _ shrill/0001.wav"
    assert sorted(members) == sorted(
        ["project.json"] + [f for c in manifest["classes"] for f in c["files"]]
    )
    # and the same zip reads as a zip of class folders
    assert read_class_zip(projects.save_project(gathered, sr=SR)).counts == {
        "low": 4, "high _ shrill": 5, "background": 4}  # fmt: skip


def test_a_model_comes_back_and_answers_the_same_about_every_clip(gathered):
    from core.learn import task as tasks
    from core.learn.build import build_model
    from core.learn.classify import Preprocess, classify_clip

    ds = userdata.to_dataset(gathered, sr=SR)
    inputs = tasks.inputs_for(ds, tasks.reads_for_preset(ds, tasks.default_preset(ds)))
    plan = tasks.plan_preset(ds, inputs, tasks.default_preset(ds))
    torch.manual_seed(0)
    model = build_model(plan.spec, plan.task.input_shape, logits=True).eval()
    saved = plan.task.save(model, spec=plan.spec)

    p = projects.load_project(projects.save_project(gathered, sr=SR, model=saved), sr=SR)
    assert p.problems == [] and p.model == saved
    b = p.bundle
    assert b.class_names == ["low", "high / shrill", "background"]
    pre = Preprocess.from_dict(b.features)
    assert pre == plan.task.preprocess
    answers = 0
    for label, items in gathered.examples.items():
        for before, after in zip(items, p.gathered.examples[label], strict=True):
            want = classify_clip(model, before, pre=plan.task.preprocess,
                                 class_names=b.class_names)  # fmt: skip
            got = classify_clip(b.model, after, pre=pre, class_names=b.class_names, head=b.head)
            np.testing.assert_array_equal(got.probs, want.probs)
            answers += 1
    assert answers == 13


def test_pictures_come_back_exactly_when_their_levels_are_8_bit():
    rng = np.random.default_rng(0)
    g = userdata.Gathered("image")
    g.examples = {"dark": [rng.integers(0, 60, (28, 28)) / 255.0 for _ in range(4)],
                  "light": [rng.integers(200, 256, (20, 24)) / 255.0 for _ in range(4)]}  # fmt: skip
    g.names = {k: [f"{k}{i}.png" for i in range(4)] for k in g.examples}
    p = projects.load_project(projects.save_project(g))
    assert p.gathered.kind == "image" and p.gathered.names == g.names
    for label in g.examples:
        for got, want in zip(p.gathered.examples[label], g.examples[label], strict=True):
            assert got.dtype == np.float32  # pictures are kept as 32-bit floats
            np.testing.assert_array_equal(got, want.astype(np.float32))


def test_a_model_for_other_classes_or_a_broken_one_is_left_out_with_a_sentence(gathered):
    data = projects.save_project(gathered, sr=SR, model=b"not a model at all")
    p = projects.load_project(data, sr=SR)
    assert p.bundle is None and p.model is None
    assert p.gathered.counts == {"low": 4, "high / shrill": 5, "background": 4}  # clips kept
    assert len(p.problems) == 1 and p.problems[0].startswith("The project's model was left out")

    from core.learn.build import build_model
    from core.learn.checkpoints import save_bundle

    spec = [{"type": "Flatten"}, {"type": "Linear", "out_features": 2}]
    other = save_bundle(build_model(spec, (1, 4), logits=True), spec=spec, input_shape=(1, 4),
                        class_names=["cat", "dog"])  # fmt: skip
    p = projects.load_project(projects.save_project(gathered, sr=SR, model=other), sr=SR)
    assert p.bundle is None
    assert "it tells apart cat, dog, but the project's classes are low" in p.problems[0]


def test_a_pickled_model_in_a_project_is_never_unpickled(gathered):
    import pickle

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled')",))

    data = projects.save_project(gathered, sr=SR, model=pickle.dumps(Boom()))
    p = projects.load_project(data, sr=SR)
    assert p.bundle is None and "pickled PyTorch checkpoint" in p.problems[0]


def manifest(classes, **changes):
    return json.dumps({"format": "cnn-explainer-project", "version": 1, "kind": "audio",
                       "sample_rate": SR, "classes": classes, "model": None} | changes)  # fmt: skip


def wav_bytes(x):
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x, SR, format="WAV", subtype="FLOAT")
    return buf.getvalue()


@pytest.mark.parametrize(
    "members,links,message",
    [
        ({"../evil.wav": b"x", "project.json": b"{}"}, (), "climbs out of its folder"),
        ({"/etc/evil.wav": b"x"}, (), "absolute path"),
        ({"a/l.wav": b"/etc/passwd"}, ("a/l.wav",), "link or special file"),
        ({"a/bomb.wav": bytes(8 * 2**20)}, (), "zip bomb"),
        ({"a/1.wav": b"x"}, (), "no project.json"),
        ({"project.json": b"{not json"}, (), "not valid JSON"),
        ({"project.json": manifest([], format="other")}, (), "not written by this page"),
        ({"project.json": manifest([], version=9)}, (), "version 9"),
        ({"project.json": manifest([], kind="video")}, (), "'kind' must be"),
        ({"project.json": manifest([{"name": "a", "files": ["a/1.wav"], "names": []}])}, (),
         "same length"),
        ({"project.json": manifest([{"name": "a", "files": [], "names": []}] * 2)}, (),
         "'a' twice"),
    ],
)  # fmt: skip
def test_a_bad_project_is_refused_with_a_sentence(members, links, message):
    with pytest.raises(UserInputError, match=message):
        projects.load_project(zip_of(members, links), sr=SR)


def test_a_project_over_the_limit_is_refused_before_decoding(gathered):
    with pytest.raises(UserInputError, match="holds 13 examples; this page keeps at most 12"):
        projects.load_project(projects.save_project(gathered, sr=SR), sr=SR, max_examples=12)


def test_missing_unreadable_and_stray_files_are_named_and_the_rest_is_read():
    good = wav_bytes(tone(440, seed=0))
    classes = [{"name": "a", "files": ["a/1.wav", "a/2.wav", "a/3.wav", "../x.wav"],
                "names": ["one", "two", "three", "four"]}]  # fmt: skip
    data = zip_of({"project.json": manifest(classes), "a/1.wav": good, "a/2.wav": b"RIFFjunk",
                   "notes.txt": b"hello"})  # fmt: skip
    p = projects.load_project(data, sr=SR)
    assert p.gathered.names == {"a": ["one"]}
    np.testing.assert_array_equal(p.gathered.examples["a"][0], tone(440, seed=0))
    said = " | ".join(p.problems)
    assert "notes.txt: not part of a project" in said
    assert "a/three: its file 'a/3.wav' is not in the project" in said
    assert "a/four: its file '../x.wav' is not in the project" in said
    assert "a/two:" in said


def _flip_packed_data(data: bytes, name: str) -> bytes:
    """The zip with 6 bytes of member ``name``'s packed data inverted (headers intact)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        start = zf.getinfo(name).header_offset
    z = bytearray(data)
    n, x = struct.unpack_from("<HH", z, start + 26)
    for k in range(start + 30 + n + x, start + 36 + n + x):
        z[k] ^= 0xFF
    return bytes(z)


def test_a_project_whose_model_zip_is_damaged_opens_without_the_model(gathered):
    data = projects.save_project(gathered, sr=SR, model=bytes(range(256)) * 200)
    p = projects.load_project(_flip_packed_data(data, "model.zip"), sr=SR)
    assert p.bundle is None and p.model is None
    assert p.gathered.counts == {"low": 4, "high / shrill": 5, "background": 4}  # clips kept
    assert len(p.problems) == 1
    assert p.problems[0].startswith(
        "The project's model was left out: model.zip could not be unpacked (Error -3 while "
        "decompressing data"
    )


@pytest.mark.parametrize("error", [zlib.error("Error -3 while decompressing data"),
                                   NotImplementedError("That compression method is not supported")],
                         ids=["zlib", "method"])  # fmt: skip
def test_a_model_whose_own_members_do_not_unpack_is_left_out_with_a_sentence(
    gathered, monkeypatch, error
):
    from core.learn import checkpoints

    def load_bundle(data, *, name):
        raise error

    monkeypatch.setattr(checkpoints, "load_bundle", load_bundle)
    p = projects.load_project(projects.save_project(gathered, sr=SR, model=b"a model"), sr=SR)
    assert p.bundle is None and p.model is None and len(p.gathered.examples) == 3
    assert p.problems == [
        f"The project's model was left out: its model.zip is damaged ({error}); train it again "
        "and download the project anew."
    ]


def test_a_model_zip_with_a_damaged_member_is_left_out_with_a_sentence(gathered):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.safetensors", bytes(range(256)) * 100)
        zf.writestr("model.json", "{}")
    model = _flip_packed_data(inner.getvalue(), "model.safetensors")
    p = projects.load_project(projects.save_project(gathered, sr=SR, model=model), sr=SR)
    assert p.bundle is None and p.model is None and len(p.gathered.examples) == 3
    assert len(p.problems) == 1 and p.problems[0].startswith("The project's model was left out: ")


def test_a_damaged_example_is_left_out_and_a_damaged_manifest_refused(gathered):
    data = projects.save_project(gathered, sr=SR)
    p = projects.load_project(_flip_packed_data(data, "low/0002.wav"), sr=SR)
    assert p.gathered.names["low"] == ["recording 1.wav", "recording 3.wav", "recording 4.wav"]
    assert len(p.problems) == 1
    assert p.problems[0].startswith(
        "low/recording 2.wav: low/0002.wav could not be unpacked (Error -3 while decompressing"
    )
    with pytest.raises(UserInputError, match=r"^project\.json could not be unpacked \("):
        projects.load_project(_flip_packed_data(data, "project.json"), sr=SR)


def test_of_two_manifests_the_first_is_read():
    good = wav_bytes(tone(440, seed=0))
    classes = [{"name": "a", "files": ["a/1.wav"], "names": ["one"]}]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("project.json", manifest(classes))
        zf.writestr("a/1.wav", good)
        zf.writestr("project.json", b"{not json")
    p = projects.load_project(buf.getvalue(), sr=SR)
    assert p.gathered.names == {"a": ["one"]}
    assert p.problems == ["project.json: the zip holds two files of that name; the first was kept"]


def test_a_project_listing_more_than_the_page_keeps_is_refused_unread():
    """Without a limit given, the page's limit holds: a manifest cannot name one file 601 times
    and have it decoded 601 times."""
    assert userdata.MAX_EXAMPLES == 600
    classes = [{"name": "a", "files": ["a/1.wav"] * 601, "names": ["one"] * 601}]
    data = zip_of({"project.json": manifest(classes), "a/1.wav": wav_bytes(tone(440, seed=0))})
    with pytest.raises(UserInputError, match="holds 601 examples; this page keeps at most 600"):
        projects.load_project(data, sr=SR)


def test_large_pictures_in_a_project_are_shrunk_while_they_are_decoded():
    big = np.zeros((3000, 2000), np.uint16)  # 16-bit grey, as projects keep pictures
    big[1500:] = 65535
    buf = io.BytesIO()
    from PIL import Image

    Image.fromarray(big).save(buf, format="PNG")
    classes = [{"name": "a", "files": ["a/1.png"], "names": ["one"]}]
    data = zip_of({"project.json": manifest(classes, kind="image"), "a/1.png": buf.getvalue()})
    (x,) = projects.load_project(data).gathered.examples["a"]
    assert x.shape == (128, 85) and x.dtype == np.float32
    assert x[:60].max() < 0.01 and x[68:].min() > 0.99
