"""Reading a user's zip of class folders: what is accepted, and every way it is refused."""

import io
import stat
import zipfile

import pytest

from core.data.archive import read_class_zip
from core.errors import UserInputError


def make_zip(members: dict[str, bytes], *, links: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = stat.S_IFLNK | 0o777 if name in links else stat.S_IFREG | 0o644
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


def test_classes_come_from_folder_names():
    data = make_zip({"clap/1.wav": b"a", "clap/2.wav": b"b", "snap/x.ogg": b"c",
                     "notes.txt": b"hi", "__MACOSX/clap/._1.wav": b"junk"})  # fmt: skip
    files = read_class_zip(data)
    assert files.counts == {"clap": 2, "snap": 1}
    assert files.classes["clap"][0] == ("clap/1.wav", b"a")
    assert any("notes.txt" in s for s in files.skipped)


def test_nested_folders_use_the_innermost_folder_as_class():
    files = read_class_zip(make_zip({"my data/dog/a.png": b"1", "my data/cat/b.png": b"2"}))
    assert files.counts == {"dog": 1, "cat": 1}


@pytest.mark.parametrize(
    "members,links,message",
    [
        ({"../evil.wav": b"x"}, (), "climbs out of its folder"),
        ({"clap/../../evil.wav": b"x"}, (), "climbs out of its folder"),
        ({"/etc/evil.wav": b"x"}, (), "absolute path"),
        ({"clap/link.wav": b"/etc/passwd"}, ("clap/link.wav",), "link or special file"),
        ({"readme.txt": b"x"}, (), "no usable files"),
    ],
)
def test_refusals(members, links, message):
    with pytest.raises(UserInputError, match=message):
        read_class_zip(make_zip(members, links=links))


def test_zip_bomb_is_stopped_while_inflating():
    bomb = make_zip({"clap/bomb.wav": bytes(8 * 1024 * 1024)})  # 8 MB of zeros, ~8 kB packed
    assert len(bomb) < 100_000
    with pytest.raises(UserInputError, match="zip bomb"):
        read_class_zip(bomb)


def test_total_unpacked_size_is_capped():
    data = make_zip({f"c{i}/f.wav": bytes(range(256)) * 4000 for i in range(4)})  # ~1 MB each
    with pytest.raises(UserInputError, match="unpacks to more than"):
        read_class_zip(data, max_total=2_500_000)


def test_too_many_files():
    data = make_zip({f"c/{i}.wav": b"x" for i in range(20)})
    with pytest.raises(UserInputError, match="holds 20 entries; at most 10"):
        read_class_zip(data, max_files=10)


@pytest.mark.parametrize("data,message", [(b"", "empty"), (b"PK\x03\x04garbage", "not a zip")])
def test_not_a_zip(data, message):
    with pytest.raises(UserInputError, match=message):
        read_class_zip(data)
