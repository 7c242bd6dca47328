"""The 'Your own data' page: classes, recordings, uploads, zips and their messages."""

import io
import stat
import zipfile

import numpy as np
import pytest
import soundfile as sf

from tests.apptest import open_page


def wav(freq, seconds=0.5, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr, format="WAV")
    return buf.getvalue()


def zip_of(members, links=()):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((stat.S_IFLNK if name in links else stat.S_IFREG) | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


@pytest.fixture
def at():
    return open_page("your_data")


def add_class(app, name):
    app.text_input(key="yd_new_class").input(name).run()
    app.button(key="yd_add_class").click().run()


def messages(app):
    return [
        m.value for m in list(app.error) + list(app.warning) + list(app.info) + list(app.success)
    ]


def test_two_classes_by_upload_and_recording_become_a_training_set(at):
    add_class(at, "low")
    add_class(at, "high")
    at.file_uploader(key="yd_up_low_0").set_value(
        [(f"l{i}.wav", wav(200 + 10 * i), "audio/wav") for i in range(4)]
    ).run()
    assert not at.exception
    at.file_uploader(key="yd_up_high_0").set_value(
        [(f"h{i}.wav", wav(3000 + 10 * i), "audio/wav") for i in range(3)]
    ).run()
    at.audio_input(key="yd_rec_high_3").set_value(("rec.wav", wav(3100), "audio/wav")).run()
    assert not at.exception
    assert any("Added 1 example" in m for m in messages(at))
    table = at.dataframe[0].value
    assert table["examples"].tolist() == [4, 4]
    assert any("only 4 examples" in w.value for w in at.warning)
    at.button(key="yd_use").click().run()
    ds = at.session_state["user_dataset"]
    assert ds.class_names == ("low", "high") and ds.x.shape == (8, 16000)  # one second each
    assert any("Open the Train page" in s.value for s in at.success)


def test_deleting_examples_and_classes(at):
    add_class(at, "a")
    at.file_uploader(key="yd_up_a_0").set_value([("1.wav", wav(300), "audio/wav"),
                                                 ("2.wav", wav(400), "audio/wav")]).run()  # fmt: skip
    at.button(key="yd_del_a_0").click().run()
    assert at.session_state["yd_data"].names["a"] == ["2.wav"]
    at.button(key="yd_delc_a").click().run()
    assert "a" not in at.session_state["yd_data"].examples


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("empty.wav", b"", "empty"),
        ("text.wav", b"hello there, not audio", "not"),
    ],
)
def test_unreadable_clips_are_named(at, name, data, message):
    add_class(at, "a")
    at.file_uploader(key="yd_up_a_0").set_value([(name, data, "audio/wav")]).run()
    assert not at.exception
    assert any(m.startswith(f"a/{name}:") and message in m.lower() for m in messages(at)), messages(
        at
    )


def test_zip_with_classes(at):
    data = zip_of(
        {f"clap/{i}.wav": wav(500 + i) for i in range(4)}
        | {f"snap/{i}.wav": wav(2500 + i) for i in range(4)}
    )
    at.file_uploader(key="yd_zip").set_value(("set.zip", data, "application/zip")).run()
    assert not at.exception
    assert at.session_state["yd_data"].counts == {"clap": 4, "snap": 4}


@pytest.mark.parametrize(
    "members,links,message",
    [
        ({"../evil.wav": b"x"}, (), "climbs out of its folder"),
        ({"clap/bomb.wav": bytes(8 * 2**20)}, (), "zip bomb"),
        ({"clap/l.wav": b"/etc/passwd"}, ("clap/l.wav",), "link"),
        ({"readme.txt": b"hi"}, (), "no usable files"),
    ],
)
def test_bad_zips_are_refused_and_nothing_is_lost(at, members, links, message):
    add_class(at, "kept")
    at.file_uploader(key="yd_up_kept_0").set_value([("k.wav", wav(440), "audio/wav")]).run()
    at.file_uploader(key="yd_zip").set_value(
        ("bad.zip", zip_of(members, links), "application/zip")
    ).run()
    assert not at.exception
    assert any(message in m for m in messages(at)), messages(at)
    assert at.session_state["yd_data"].counts == {"kept": 1}


def test_single_and_empty_classes_cannot_be_used(at):
    add_class(at, "only")
    at.file_uploader(key="yd_up_only_0").set_value(
        [(f"{i}.wav", wav(300 + i), "audio/wav") for i in range(5)]
    ).run()
    assert any("at least two classes" in i.value for i in at.info)
    add_class(at, "empty")
    assert any("no usable examples yet: empty" in i.value for i in at.info)
    assert not [b for b in at.button if b.key == "yd_use"]


def test_duplicate_and_blank_class_names(at):
    add_class(at, "x")
    add_class(at, "x")
    assert any("already a class called 'x'" in e.value for e in at.error)
    add_class(at, "   ")
    assert any("needs a name" in e.value for e in at.error)


def test_pictures_of_mixed_sizes(at):
    from PIL import Image

    def png(size, v):
        buf = io.BytesIO()
        Image.new("L", size, v).save(buf, format="PNG")
        return buf.getvalue()

    at.radio(key="yd_kind").set_value("Pictures").run()
    add_class(at, "dark")
    at.file_uploader(key="yd_up_dark_0").set_value(
        [(f"{i}.png", png((20 + i, 20), 10), "image/png") for i in range(4)]
    ).run()
    assert any("different sizes" in i.value for i in at.info)


def test_download_when_offline_says_so(at, monkeypatch, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("CNN_DATASETS_BASE_URL", f"http://127.0.0.1:{port}/")
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path))
    at.button(key="yd_download").click().run()
    assert not at.exception
    assert any("seems to be offline" in e.value for e in at.error)


def test_download_from_a_mirror_with_wrong_files_is_refused(at, monkeypatch, tmp_path):
    import http.server
    import threading
    from functools import partial

    www = tmp_path / "www"
    www.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (www / name).write_bytes(b"not the real file")
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("CNN_DATASETS_BASE_URL", f"http://127.0.0.1:{httpd.server_address[1]}/")
        monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "data"))
        at.button(key="yd_download").click().run()
    finally:
        httpd.shutdown()
    assert not at.exception
    assert any("does not match its published checksum" in e.value for e in at.error)
    assert "user_dataset" not in at.session_state


def wav_of(x, sr=16000, channels=1):
    x = np.asarray(x, np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.stack([x] * channels, axis=1) if channels > 1 else x, sr, format="WAV",
             subtype="FLOAT")  # fmt: skip
    return buf.getvalue()


def test_clips_without_signal_are_refused_and_the_decoders_notes_are_shown(at):
    t = np.arange(22050) / 44100
    tone = 0.3 * np.sin(2 * np.pi * 300 * t)
    add_class(at, "a")
    at.file_uploader(key="yd_up_a_0").set_value([
        ("stereo.wav", wav_of(tone, sr=44100, channels=2), "audio/wav"),
        ("silent.wav", wav_of(np.zeros(16000)), "audio/wav"),
        ("blip.wav", wav_of(np.full(1, 0.5)), "audio/wav"),
    ]).run()  # fmt: skip
    assert not at.exception
    assert at.session_state["yd_data"].counts == {"a": 1}
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("a/silent.wav:") and "every sample is 0" in w for w in warnings)
    assert any(
        w.startswith("a/blip.wav:") and "shorter than one 32 ms analysis window" in w
        for w in warnings
    )
    notes = [i for i in at.info if i.value.startswith("a/stereo.wav:")]
    assert any("stereo (2 channels)" in i.value for i in notes)
    assert any("Resampled from 44100 Hz to 16000 Hz" in i.value for i in notes)
    assert all(i.icon == ":material/info:" for i in notes)  # the shared clip_notes helper


def test_a_silent_recording_is_refused_and_nothing_is_lost(at):
    add_class(at, "a")
    at.file_uploader(key="yd_up_a_0").set_value([("k.wav", wav(440), "audio/wav")]).run()
    at.audio_input(key="yd_rec_a_1").set_value(("rec.wav", wav_of(np.zeros(8000)), "audio/wav"))
    at.run()
    assert not at.exception
    assert any("carries no signal" in w.value for w in at.warning)
    assert at.session_state["yd_data"].names == {"a": ["k.wav"]}


def test_a_zip_made_with_pythons_zipfile_defaults_is_read(at):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:  # permission bits only, as zipfile writes them
        for i in range(4):
            zf.writestr(f"clap/{i}.wav", wav(500 + i))
            zf.writestr(f"snap/{i}.wav", wav(2500 + i))
    at.file_uploader(key="yd_zip").set_value(("set.zip", buf.getvalue(), "application/zip")).run()
    assert not at.exception
    assert at.session_state["yd_data"].counts == {"clap": 4, "snap": 4}


def test_switching_to_pictures_and_back_keeps_the_sounds(at):
    add_class(at, "a")
    at.file_uploader(key="yd_up_a_0").set_value([("k.wav", wav(440), "audio/wav")]).run()
    at.radio(key="yd_kind").set_value("Pictures").run()
    assert at.session_state["yd_data"].kind == "image" and not at.session_state["yd_data"].examples
    at.radio(key="yd_kind").set_value("Sounds").run()
    assert not at.exception
    assert at.session_state["yd_data"].names == {"a": ["k.wav"]}


def test_the_page_says_when_the_training_set_is_older_than_what_it_shows(at):
    add_class(at, "low")
    add_class(at, "high")
    for label, f0 in (("low", 200), ("high", 3000)):
        at.file_uploader(key=f"yd_up_{label}_0").set_value(
            [(f"{i}.wav", wav(f0 + 10 * i), "audio/wav") for i in range(4)]
        ).run()
    at.button(key="yd_use").click().run()
    assert len(at.session_state["user_dataset"].y) == 8
    assert not any("earlier state" in i.value for i in at.info)
    at.file_uploader(key="yd_up_low_4").set_value([("5.wav", wav(260), "audio/wav")]).run()
    said = [i.value for i in at.info if "earlier state" in i.value]
    assert said and "(8 examples; the page now shows 9)" in said[0]
    at.button(key="yd_use").click().run()
    assert len(at.session_state["user_dataset"].y) == 9
    assert not any("earlier state" in i.value for i in at.info)


# ------------------------------------------------- clips cut to their loud second ----


def test_a_long_clip_is_cut_to_its_loud_second_and_the_page_says_which(at):
    x = np.zeros(49600, np.float32)  # 3.10 s of silence, a burst at 0.90-0.94 s
    x[14400:15040] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(640) / 16000)
    add_class(at, "tap")
    at.file_uploader(key="yd_up_tap_0").set_value([("tap.wav", wav_of(x), "audio/wav"),
                                                   ("short.wav", wav(700), "audio/wav")]).run()  # fmt: skip
    assert not at.exception
    (kept, short) = at.session_state["yd_data"].examples["tap"]
    np.testing.assert_array_equal(kept, x[6720:22720])
    assert short.shape == (16000,) and not short[:4000].any() and short[4000:12000].any()
    notes = {i.value: i.icon for i in at.info}
    assert notes["tap/tap.wav: kept 0.42–1.42 s of 3.10 s (its loudest 1 s)."] == ":material/info:"
    assert "tap/short.wav: lasts 0.50 s; padded with silence on both sides to 1 s." in notes


# ------------------------------------------------------------ the background class ----


def noise(seconds, seed=0):
    return np.random.default_rng(seed).normal(0, 0.02, int(seconds * 16000)).astype(np.float32)


def test_room_noise_uploaded_becomes_one_second_background_examples(at):
    add_class(at, "clap")
    labels = [e.label for e in at.expander]
    assert "**Room noise**, so that “none of these” is an answer — not recorded yet" in labels
    x = noise(20.3)
    at.file_uploader(key="yd_bg_up_0").set_value(("room.wav", wav_of(x), "audio/wav")).run()
    assert not at.exception
    g = at.session_state["yd_data"]
    assert g.counts == {"clap": 0, "background": 20}
    for i, piece in enumerate(g.examples["background"]):
        np.testing.assert_array_equal(piece, x[i * 16000 : (i + 1) * 16000])
    assert g.names["background"][:2] == ["room, piece 1 of 20", "room, piece 2 of 20"]
    assert "Added 20 examples." in [s.value for s in at.success]
    assert (
        "background/room.wav: 20.3 s of room noise cut into 20 examples of 1 s (the last 0.30 s "
        "was left out)." in [i.value for i in at.info]
    )
    labels = [e.label for e in at.expander]
    assert (
        "**Room noise**, so that “none of these” is an answer (20 examples in “background”)"
        in labels
    )
    assert "**background**: 20 examples" in labels
    assert at.file_uploader(key="yd_bg_up_20").value is None  # a fresh box for the next one


def test_a_room_recording_is_named_and_a_short_one_is_refused(at):
    at.audio_input(key="yd_bg_rec_0").set_value(("r.wav", wav_of(noise(2.5)), "audio/wav")).run()
    assert not at.exception
    assert any("lasts 2.5 s: at least 4 s are needed" in e.value for e in at.error)
    assert "background" not in at.session_state["yd_data"].examples
    at.audio_input(key="yd_bg_rec_0").set_value(("r.wav", wav_of(noise(6.0, 1)), "audio/wav"))
    at.run()
    assert not at.exception
    assert at.session_state["yd_data"].names["background"] == [
        f"room recording 1, piece {i} of 6" for i in range(1, 7)
    ]


def test_no_background_section_for_pictures(at):
    at.radio(key="yd_kind").set_value("Pictures").run()
    assert not [e for e in at.expander if e.label.startswith("**Room noise**")]


# ------------------------------------------------------------------- keep your work ----


def download_button(app):
    return next(b for b in app.get("download_button") if b.proto.id.endswith("yd_project_download"))


def captions(app):
    return [c.value for c in app.caption]


def test_the_page_says_where_clips_live_and_offers_the_project(at):
    assert any(
        "Your clips live in this browser tab until you download the project" in w.value
        for w in at.warning
    )
    button = download_button(at)
    assert button.proto.label == "Download the project (.zip)" and button.proto.disabled
    add_class(at, "a")
    at.file_uploader(key="yd_up_a_0").set_value([(f"{i}.wav", wav(300 + i), "audio/wav")
                                                 for i in range(3)]).run()  # fmt: skip
    assert not download_button(at).proto.disabled
    assert "3 examples of 1 class: one folder per class and project.json." in captions(at)


def saved_project(with_model=False):
    """A project of three classes (and a model trained on them, untrained weights), as the
    download button builds it."""
    from core.data import project as projects
    from core.data import users as userdata

    g = userdata.Gathered("audio")
    g.examples = {c: [noise(1.0, seed=10 * k + i) * (k + 1) for i in range(4)]
                  for k, c in enumerate(["low", "high", "background"])}  # fmt: skip
    g.names = {c: [f"{c} {i}" for i in range(4)] for c in g.examples}
    model, run = None, None
    if with_model:
        import torch

        from core.learn import task as tasks
        from core.learn.build import build_model

        ds = userdata.to_dataset(g)
        inputs = tasks.inputs_for(ds, tasks.reads_for_preset(ds, tasks.default_preset(ds)))
        plan = tasks.plan_preset(ds, inputs, tasks.default_preset(ds))
        torch.manual_seed(0)
        net = build_model(plan.spec, plan.task.input_shape, logits=True).eval()
        model = plan.task.save(net, spec=plan.spec)
        from types import SimpleNamespace

        run = SimpleNamespace(status="done", model=net, task=plan.task,
                              info=SimpleNamespace(spec=plan.spec))  # fmt: skip
    return g, projects.save_project(g, model=model), run


def test_a_finished_model_on_these_classes_goes_into_the_project(at):
    g, _, run = saved_project(with_model=True)
    at.session_state["yd_data"] = g
    at.session_state["train_run"] = run
    at.run()
    assert not at.exception
    assert (
        "12 examples of 3 classes, and the model trained on them: one folder per class and "
        "project.json; the model as model.zip (safetensors + JSON, no pickle)." in captions(at)
    )
    g.examples["extra"], g.names["extra"] = [], []  # now the model's classes are not these
    at.run()
    assert "12 examples of 4 classes: one folder per class and project.json." in captions(at)


def test_opening_a_project_replaces_the_page_and_brings_its_model(at):
    g, data, _ = saved_project(with_model=True)
    add_class(at, "old")
    at.file_uploader(key="yd_up_old_0").set_value([("k.wav", wav(440), "audio/wav")]).run()
    at.file_uploader(key="yd_project").set_value(("mine.zip", data, "application/zip")).run()
    assert not at.exception
    opened = at.session_state["yd_data"]
    assert opened.names == g.names
    for label in g.examples:
        for got, want in zip(opened.examples[label], g.examples[label], strict=True):
            np.testing.assert_array_equal(got, want)
    said = [s.value for s in at.success]
    assert (
        "Opened mine.zip: 12 examples of 3 classes, and the model trained on them: ask it on "
        "the “Ask your model” page (as “A saved model”). They replace the 1 example on the "
        "page." in said
    )
    loaded = at.session_state["cl_loaded"]
    assert loaded["class_names"] == ["low", "high", "background"]
    assert loaded["title"] == "the model in mine.zip"
    assert loaded["pre"].representation in ("log-mel", "waveform")
    assert any("and the model trained on them" in c for c in captions(at))  # kept to save again


def test_opening_a_picture_project_switches_to_pictures_and_keeps_the_sounds(at):
    from core.data import project as projects
    from core.data import users as userdata

    add_class(at, "a")
    at.file_uploader(key="yd_up_a_0").set_value([("k.wav", wav(440), "audio/wav")]).run()
    pics = userdata.Gathered("image")
    pics.examples = {"dark": [np.full((8, 8), 10 / 255)] * 4, "light": [np.full((8, 8), 1.0)] * 4}
    pics.names = {k: [f"{i}.png" for i in range(4)] for k in pics.examples}
    at.file_uploader(key="yd_project").set_value(
        ("pics.zip", projects.save_project(pics), "application/zip")
    ).run()
    assert not at.exception
    assert at.radio(key="yd_kind").value == "Pictures"
    assert at.session_state["yd_data"].counts == {"dark": 4, "light": 4}
    assert any(s.value.startswith("Opened pics.zip: 8 examples of 2") for s in at.success)
    at.radio(key="yd_kind").set_value("Sounds").run()
    assert at.session_state["yd_data"].names == {"a": ["k.wav"]}


def test_a_bad_project_is_refused_under_its_box_and_nothing_is_lost(at):
    add_class(at, "kept")
    at.file_uploader(key="yd_up_kept_0").set_value([("k.wav", wav(440), "audio/wav")]).run()
    bad = zip_of({"../evil.wav": b"x", "project.json": b"{}"})
    at.file_uploader(key="yd_project").set_value(("bad.zip", bad, "application/zip")).run()
    assert not at.exception
    assert any(e.value.startswith("bad.zip: ") and "climbs out" in e.value for e in at.error)
    plain = zip_of({f"clap/{i}.wav": wav(500 + i) for i in range(4)})
    at.file_uploader(key="yd_project").set_value(("plain.zip", plain, "application/zip")).run()
    assert any("no project.json" in e.value for e in at.error)
    assert at.session_state["yd_data"].counts == {"kept": 1}


def test_files_beyond_the_pages_limit_are_not_decoded(at):
    """Near the page's 600 examples, a zip's extra files are left out unread (not decoded,
    then thrown away), and the page says so."""
    from core.data import users as userdata

    g = userdata.Gathered("audio")
    quiet = np.zeros(16000, np.float32)
    g.examples = {"low": [quiet] * 300, "high": [quiet] * 298}
    g.names = {k: [f"{k}{i}.wav" for i in range(len(v))] for k, v in g.examples.items()}
    at.session_state["yd_data"] = g
    at.run()
    data = zip_of({f"low/new{i}.wav": wav(500 + i) for i in range(5)})
    at.file_uploader(key="yd_zip").set_value(("set.zip", data, "application/zip")).run()
    assert not at.exception
    assert at.session_state["yd_data"].counts == {"low": 302, "high": 298}
    said = " ".join(messages(at))
    assert "Room for 2 more example(s) only: the other 3 file(s) were left out" in said
