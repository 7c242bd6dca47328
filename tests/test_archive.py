"""Reading a user's zip of class folders: what is accepted, and every way it is refused."""

import io
import shutil
import stat
import struct
import subprocess
import zipfile
import zlib

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


def _plain_zip(members: dict[str, bytes]) -> bytes:
    """A zip as Python's zipfile writes it by default: permission bits, no file-type bits."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_zip_made_with_pythons_zipfile_defaults_is_read():
    data = _plain_zip({"clap/1.wav": b"a", "snap/2.wav": b"b"})
    assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].external_attr >> 16 == 0o600
    assert read_class_zip(data).counts == {"clap": 1, "snap": 1}


def test_a_zip_of_real_files_written_by_zipfile_write(tmp_path):
    (tmp_path / "dog").mkdir()
    (tmp_path / "dog" / "a.png").write_bytes(b"png")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(tmp_path / "dog", "dog")
        zf.write(tmp_path / "dog" / "a.png", "dog/a.png")
    assert read_class_zip(buf.getvalue()).classes["dog"] == [("dog/a.png", b"png")]


@pytest.mark.skipif(shutil.which("zip") is None, reason="Debian's zip is not installed")
def test_a_zip_made_by_debians_zip_command(tmp_path):
    for label in ("yes", "no"):
        (tmp_path / "data" / label).mkdir(parents=True)
        (tmp_path / "data" / label / "1.wav").write_bytes(label.encode() * 10)
    subprocess.run(["zip", "-qr", str(tmp_path / "c.zip"), "data"], cwd=tmp_path, check=True)
    files = read_class_zip((tmp_path / "c.zip").read_bytes())
    assert files.counts == {"yes": 1, "no": 1}
    assert files.classes["no"][0][1] == b"no" * 10


def test_bits_of_an_archive_made_elsewhere_are_not_read_as_unix_modes():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("clap/1.wav")
        info.create_system = 0  # MS-DOS / Windows: the high bits mean nothing
        info.external_attr = (stat.S_IFLNK | 0o777) << 16 | 0x20
        zf.writestr(info, b"a")
    assert read_class_zip(buf.getvalue()).counts == {"clap": 1}


def _with_ordinary(bad_name: str, bad_data: bytes, *, mode: int | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("clap/ok.wav", b"fine")
        info = zipfile.ZipInfo(bad_name)
        info.compress_type = zipfile.ZIP_DEFLATED
        if mode is not None:
            info.create_system = 3
            info.external_attr = mode << 16
        zf.writestr(info, bad_data)
        zf.writestr("snap/ok.wav", b"fine too")
    return buf.getvalue()


@pytest.mark.parametrize(
    "name,data,mode,message",
    [
        ("clap/link.wav", b"/etc/passwd", stat.S_IFLNK | 0o777, "link or special file"),
        ("clap/fifo.wav", b"", stat.S_IFIFO | 0o644, "link or special file"),
        ("../../evil.wav", b"x", None, "climbs out of its folder"),
        ("clap/../../../evil.wav", b"x", None, "climbs out of its folder"),
        ("/tmp/evil.wav", b"x", None, "absolute path"),
        ("C:/evil.wav", b"x", None, "absolute path"),
        ("clap/bomb.wav", bytes(16 * 1024 * 1024), None, "zip bomb"),
    ],
    ids=["symlink", "fifo", "dotdot", "nested-dotdot", "absolute", "drive", "bomb"],
)
def test_hostile_members_among_ordinary_ones_are_refused(name, data, mode, message):
    with pytest.raises(UserInputError, match=message):
        read_class_zip(_with_ordinary(name, data, mode=mode))


@pytest.mark.skipif(shutil.which("zip") is None, reason="Debian's zip is not installed")
def test_a_symlink_stored_by_debians_zip_is_refused(tmp_path):
    (tmp_path / "data" / "yes").mkdir(parents=True)
    (tmp_path / "data" / "yes" / "1.wav").write_bytes(b"yes")
    (tmp_path / "data" / "yes" / "2.wav").symlink_to("/etc/passwd")
    # -y stores the link itself, as zip does on Unix when asked
    subprocess.run(["zip", "-qry", str(tmp_path / "c.zip"), "data"], cwd=tmp_path, check=True)
    with pytest.raises(UserInputError, match=r"link or special file \('data/yes/2.wav'\)"):
        read_class_zip((tmp_path / "c.zip").read_bytes())


def test_limits_refuse_zips_written_with_zipfile_defaults():
    """The count, total-size and per-file limits run on ordinary archives, not only on
    archives that carry explicit Unix file types."""
    many = _plain_zip({f"c/{i}.wav": b"x" for i in range(20)})
    with pytest.raises(UserInputError, match="holds 20 entries; at most 10"):
        read_class_zip(many, max_files=10)
    big = _plain_zip({f"c{i}/f.wav": bytes(range(256)) * 4000 for i in range(4)})  # ~1 MB each
    with pytest.raises(UserInputError, match="unpacks to more than"):
        read_class_zip(big, max_total=2_500_000)
    huge = _plain_zip({"a/ok.wav": b"fine", "a/huge.wav": bytes(21 * 2**20)})
    with pytest.raises(UserInputError, match="would unpack to 21 MB"):
        read_class_zip(huge)


def _flip_first_members_data(data: bytes) -> bytes:
    """The zip with 6 bytes of its first member's packed data inverted (headers intact)."""
    z = bytearray(data)
    n, x = struct.unpack_from("<HH", z, 26)  # the local header's name and extra lengths
    for k in range(30 + n + x, 36 + n + x):
        z[k] ^= 0xFF
    return bytes(z)


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA],
                         ids=["deflate", "bzip2", "lzma"])  # fmt: skip
def test_a_damaged_member_is_refused_with_its_name(method):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        zf.writestr("clap/1.wav", bytes(range(256)) * 100)
        zf.writestr("snap/1.wav", b"x" * 1000)
    with pytest.raises(UserInputError, match=r"^clap/1\.wav could not be unpacked \(.+\): the zip "
                       "is damaged, or packed in a way this app cannot read"):  # fmt: skip
        read_class_zip(_flip_first_members_data(buf.getvalue()))


def test_a_member_packed_with_an_unknown_method_is_refused_with_its_name():
    z = bytearray(_plain_zip({"clap/1.wav": b"a", "snap/1.wav": b"b"}))
    struct.pack_into("<H", z, 8, 99)  # the first local header's compression method
    struct.pack_into("<H", z, z.find(b"PK\x01\x02") + 10, 99)  # and its directory entry's
    with pytest.raises(
        UserInputError,
        match=r"clap/1\.wav could not be unpacked \(That compression method is not supported\)",
    ):
        read_class_zip(bytes(z))


def _directory_of(n: int, *, claimed: int | None = None, zip64: bool = False) -> bytes:
    """One local file and ``n`` central-directory entries all pointing at it, as a hostile zip
    of a million entries is made; the end record claims ``claimed`` entries (default ``n``)."""
    name, data = b"a/1.wav", b"x"
    crc = zlib.crc32(data)
    local = (
        b"PK\x03\x04"
        + struct.pack("<5H3L2H", 20, 0, 0, 0, 0, crc, 1, 1, len(name), 0)
        + name
        + data
    )
    entry = b"PK\x01\x02" + struct.pack("<6H3L5H2L", 20, 20, 0, 0, 0, 0, crc, 1, 1, len(name),
                                        0, 0, 0, 0, 0, 0)  # fmt: skip
    cd = (entry + name) * n
    count = n if claimed is None else claimed
    if not zip64:
        end = struct.pack("<4H2LH", 0, 0, count, count, len(cd), len(local), 0)
        return local + cd + b"PK\x05\x06" + end
    start64 = len(local) + len(cd)
    end64 = b"PK\x06\x06" + struct.pack("<Q2H2L4Q", 44, 45, 45, 0, 0, count, count, len(cd),
                                         len(local))  # fmt: skip
    locator = b"PK\x06\x07" + struct.pack("<LQL", 0, start64, 1)
    end = struct.pack("<4H2LH", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return local + cd + end64 + locator + b"PK\x05\x06" + end


def _no_directory_parsing(*args, **kwargs):
    raise AssertionError("zipfile parsed the central directory")


@pytest.mark.parametrize(
    "data,entries",
    [(_directory_of(50), 50), (_directory_of(50, claimed=1), 50),
     (_directory_of(50, claimed=0xFFFF), 65535), (_directory_of(50, zip64=True), 50),
     (_directory_of(3, claimed=70_000, zip64=True), 70000)],
    ids=["counted", "count-lies-low", "0xFFFF-without-zip64", "zip64", "zip64-claims-more"],
)  # fmt: skip
def test_the_entry_count_is_refused_before_the_directory_is_parsed(monkeypatch, data, entries):
    monkeypatch.setattr(zipfile, "ZipFile", _no_directory_parsing)
    with pytest.raises(UserInputError, match=f"holds {entries} entries; at most 10 are accepted"):
        read_class_zip(data, max_files=10)


def test_a_directory_within_the_limit_still_reaches_zipfile():
    files = read_class_zip(_directory_of(3), max_files=10)  # three entries, one file: "a/1.wav"
    assert files.counts == {"a": 1}
    assert (
        files.skipped == ["a/1.wav: the zip holds two files of that name; the first was kept"] * 2
    )


def test_a_real_zip64_archive_is_counted_from_its_zip64_end_record(monkeypatch):
    members = {f"c/{i}.wav": bytes([i]) for i in range(4)}
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 2)  # zipfile then writes zip64 records
    data = _plain_zip(members)
    monkeypatch.undo()
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data
    assert read_class_zip(data).classes["c"] == list(members.items())
    with pytest.raises(UserInputError, match="holds 4 entries; at most 3 are accepted"):
        read_class_zip(data, max_files=3)


def test_of_two_members_with_one_name_the_first_is_kept():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("clap/1.wav", b"first")
        zf.writestr("snap/1.wav", b"snap")
        zf.writestr("clap/1.wav", b"second")
    files = read_class_zip(buf.getvalue())
    assert files.classes == {"clap": [("clap/1.wav", b"first")], "snap": [("snap/1.wav", b"snap")]}
    assert files.skipped == ["clap/1.wav: the zip holds two files of that name; the first was kept"]
