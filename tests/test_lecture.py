"""A lecture file is user input: it round-trips, and every hostile file is one sentence."""

import json

import pytest

from core.errors import UserInputError
from core.lecture import MAX_BYTES, MAX_SLIDES, Lecture, Slide, from_json, to_json

PAGES = {"convolution", "pooling", "receptive_field"}


def _lecture() -> Lecture:
    lec = Lecture(title="Week 3")
    lec = lec.add(Slide("convolution", {"conv_stride_w": "2", "conv_k_0": "1,0;0,-1"}, "Stride"))
    lec = lec.add(Slide("pooling", {"pool_mode": "max"}, "Max pooling", note="Ask: why -inf?"))
    return lec.add(Slide("receptive_field", {}, "Fields"))


def test_a_lecture_round_trips_through_its_file():
    lec = _lecture()
    assert from_json(to_json(lec), pages=PAGES) == lec
    assert from_json(to_json(lec).encode(), pages=PAGES).slides[1].note == "Ask: why -inf?"


def test_slides_move_are_removed_and_edited():
    lec = _lecture()
    moved = lec.move(2, -1)
    assert [s.title for s in moved.slides] == ["Stride", "Fields", "Max pooling"]
    assert lec.move(0, -1) == lec and lec.move(2, 1) == lec  # the ends stay put
    assert [s.title for s in lec.remove(0).slides] == ["Max pooling", "Fields"]
    assert lec.edit(1, title="Pooling").slides[1].title == "Pooling"
    with pytest.raises(UserInputError, match="longer than"):
        lec.edit(0, note="x" * 5000)
    full = Lecture(slides=tuple(Slide("pooling") for _ in range(MAX_SLIDES)))
    with pytest.raises(UserInputError, match="at most 100 slides"):
        full.add(Slide("pooling"))


def _doc(**changes) -> str:
    doc = json.loads(to_json(_lecture()))
    doc.update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize(
    "data,message",
    [
        ("not json at all", "not valid JSON"),
        ("[" * 150_000 + "]" * 150_000, "lecture file is at most"),
        ("[" * 5000 + "]" * 5000, "not valid JSON|no list of slides"),
        (json.dumps({"title": "x"}), "no list of slides"),
        (json.dumps([1, 2, 3]), "no list of slides"),
        (_doc(version=7), "version 7"),
        (_doc(slides=[{"page": "../../etc/passwd"}]), "a page this app does not have"),
        (_doc(slides=[{"page": "pooling", "params": {"a": 5}}]), "is not text"),
        (_doc(slides=[{"page": "pooling", "params": ["a"]}]), "no valid settings"),
        (_doc(slides=[{"page": "pooling", "title": "t" * 300}]), "longer than 200"),
        (_doc(slides=["pooling"]), "is not a slide"),
        (_doc(slides=[{"page": "pooling"}] * 101), "at most 100 slides"),
        (_doc(title=["a list"]), "title is not text"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 else None,
)
def test_a_hostile_lecture_file_is_one_sentence(data, message):
    """(Each case is named by its expected message.)"""
    with pytest.raises(UserInputError, match=message):
        from_json(data, pages=PAGES)


def test_the_shelf_keeps_lectures_across_a_restart(tmp_path):
    from core.lecture import Shelf

    lec = _lecture()
    first = Shelf(3, tmp_path, pages=PAGES)
    first.put("tokenA", lec)
    assert first.get("tokenA") is lec
    restarted = Shelf(3, tmp_path, pages=PAGES)  # a new server process, the same folder
    assert restarted.get("tokenA") == lec
    assert Shelf(3, None, pages=PAGES).get("tokenA") is None  # no folder: memory only
    # the same object put again (every rerun does) is not written again
    (tmp_path / "tokenA.json").write_text(to_json(Lecture(title="edited on disk")))
    first.put("tokenA", lec)
    assert restarted.get("tokenA") == lec  # memory first
    assert Shelf(3, tmp_path, pages=PAGES).get("tokenA").title == "edited on disk"
    changed = lec.edit(0, title="Stride, again")
    first.put("tokenA", changed)  # a change is written
    assert Shelf(3, tmp_path, pages=PAGES).get("tokenA") == changed


def test_the_shelf_drops_the_least_recently_used_file_and_keeps_one_in_use(tmp_path):
    import os

    from core.lecture import Shelf

    shelf = Shelf(10, tmp_path, pages=PAGES, files=3)
    shelf.TOUCH_EVERY = 0.0
    lec = _lecture()
    for n in range(3):
        shelf.put(f"t{n}", lec.add(Slide("pooling", {"n": str(n)})))
        os.utime(tmp_path / f"t{n}.json", ns=(n * 10**9, n * 10**9))  # written in this order
    assert shelf.get("t0") is not None  # t0 is used again (a hall opening its link)
    shelf.put("t3", lec)  # a fourth file: the least recently used one goes, t1
    assert sorted(f.name for f in tmp_path.glob("*.json")) == ["t0.json", "t2.json", "t3.json"]
    # and a byte budget: two lectures' worth keeps the two most recent
    size = (tmp_path / "t3.json").stat().st_size
    small = Shelf(10, tmp_path / "b", pages=PAGES, disk_bytes=2 * size + 10)
    for n in range(3):
        small.put(f"b{n}", lec)
        os.utime(tmp_path / "b" / f"b{n}.json", ns=(n * 10**9, n * 10**9))
    small.put("b3", lec.edit(0, title="newest"))
    assert sorted(f.name for f in (tmp_path / "b").glob("*.json")) == ["b2.json", "b3.json"]
    assert not list(tmp_path.glob("**/*.part"))


@pytest.mark.parametrize(
    "token", ["../outside", "a/b", "", "x" * 41, "tok.json", "..", "/etc/passwd"]
)
def test_a_hostile_token_reads_and_writes_no_file(tmp_path, token):
    from core.lecture import Shelf

    folder = tmp_path / "lectures"
    folder.mkdir()
    (tmp_path / "outside.json").write_text(to_json(_lecture()))
    shelf = Shelf(5, folder, pages=PAGES)
    assert shelf.get(token) is None
    shelf.put(token, _lecture())  # kept in memory only
    assert shelf.get(token) == _lecture()
    assert list(folder.iterdir()) == []


def test_a_bad_file_on_the_shelf_is_ignored(tmp_path):
    from core.lecture import Shelf

    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "other.json").write_text(to_json(Lecture(slides=(Slide("nosuchpage"),))))
    (tmp_path / "big.json").write_bytes(b" " * (MAX_BYTES + 1))
    shelf = Shelf(5, tmp_path, pages=PAGES)
    assert shelf.get("junk") is shelf.get("other") is shelf.get("big") is None
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder should be")
    Shelf(5, blocked / "lectures", pages=PAGES).put("tokenB", _lecture())  # no error: memory only


def test_a_full_disk_leaves_no_half_written_file(tmp_path, monkeypatch):
    import os

    from core.lecture import Shelf

    real_replace = os.replace

    def disk_full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    shelf = Shelf(5, tmp_path, pages=PAGES)
    shelf.put("tokenC", _lecture())  # logged, kept in memory
    assert shelf.get("tokenC") == _lecture()
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(os, "replace", real_replace)
