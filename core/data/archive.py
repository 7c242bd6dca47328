"""Read a user's zip of examples (one folder per class), or a saved project, without trusting it.

Nothing is written to disk: members are read into memory one by one, with limits on their
number (counted from the zip's end record before its directory is parsed), on each member's
size and on the total unpacked size, checked against what is actually decompressed (a zip's own
size fields can lie). Paths that climb out of the archive (``../``), absolute paths, links and
special files are refused with a sentence, and so is a member that cannot be unpacked
(damaged); of two members with the same path the first is kept.
:func:`read_members` does the reading; :func:`read_class_zip` groups what it read by class
folder, and core.data.project reads a saved project through it as well.

Example
-------
>>> files = read_class_zip(open("my_sounds.zip", "rb").read())  # doctest: +SKIP
>>> files.classes  # {"clap": [("clap/1.wav", b"RIFF..."), ...], "snap": [...]}  # doctest: +SKIP
"""

from __future__ import annotations

import io
import lzma
import posixpath
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

from core.errors import UserInputError

MAX_FILES = 2_000
MAX_MEMBER_BYTES = 20 * 1024 * 1024
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_RATIO = 1000  # a member that inflates more than this is treated as a zip bomb
AUDIO_EXT = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".m4a", ".aac", ".mp4", ".webm", ".opus"}
IMAGE_EXT = {".png", ".jpg", ".jpeg"}
_IGNORED = ("__MACOSX/", ".DS_Store", "Thumbs.db", "desktop.ini")
# what reading a damaged member (or one packed in a way zipfile cannot unpack) raises: a bad
# CRC or header, deflate / bzip2 / LZMA data that does not decode, data that ends too early,
# an unsupported method or feature, an encrypted member
UNREADABLE = (zipfile.BadZipFile, zlib.error, OSError, EOFError, lzma.LZMAError,
              NotImplementedError, RuntimeError, ValueError)  # fmt: skip


@dataclass
class ClassFiles:
    """Files grouped by class folder: ``classes[name]`` is a list of (path, bytes)."""

    classes: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # sentences about files left out

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(files) for name, files in self.classes.items()}


def _safe_path(name: str) -> str:
    """The member's path, normalised; refuses absolute paths and any climb out of the archive."""
    if "\\" in name:
        name = name.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UserInputError(
            f"The zip contains an absolute path ({name!r}); only relative class/file paths are "
            "accepted, so nothing can be written outside its folder."
        )
    parts = name.split("/")
    if ".." in parts:
        raise UserInputError(
            f"The zip contains a path that climbs out of its folder ({name!r}); it was refused "
            "as a whole. Make the zip from inside the folder that holds the class folders."
        )
    return posixpath.normpath(name)


_UNIX = 3  # ZipInfo.create_system of archives made on Unix


def _is_link_or_special(info: zipfile.ZipInfo) -> bool:
    """A symlink, device or pipe, judged from the Unix mode bits only when the archive says it
    was made on Unix and the bits name a file type (Python's zipfile, for one, writes
    permission bits without a type: an ordinary file)."""
    mode = info.external_attr >> 16
    if info.create_system != _UNIX or not stat.S_IFMT(mode):
        return False
    return stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def read_class_zip(data: bytes, *, kinds: set[str] | None = None, max_files: int = MAX_FILES,
                   max_total: int = MAX_TOTAL_BYTES) -> ClassFiles:  # fmt: skip
    """Read a zip holding one folder per class; return the accepted files by class.

    Parameters
    ----------
    data : bytes
        The uploaded zip.
    kinds : set of file extensions to keep (default: audio and image files)
    max_files, max_total : limits on the number of members and the unpacked bytes

    Raises
    ------
    UserInputError
        Not a zip, damaged (the sentence names the member), too many files, too large when
        unpacked (a zip bomb), a path that escapes the folder, a link, or no usable files.
    """
    kinds = kinds or (AUDIO_EXT | IMAGE_EXT)

    def refuse(path: str) -> str | None:
        if posixpath.splitext(path)[1].lower() not in kinds:
            return f"{path}: not an accepted file type"
        if len(path.split("/")) < 2:
            return f"{path}: not inside a class folder"
        return None

    out = ClassFiles()
    members = read_members(data, refuse=refuse, max_files=max_files, max_total=max_total)
    out.skipped = members.skipped
    for path, content in members.files:
        out.classes.setdefault(path.split("/")[-2], []).append((path, content))
    if not out.classes:
        raise UserInputError(
            "The zip has no usable files: put each class's files in a folder named after the "
            "class (e.g. clap/1.wav, snap/1.wav)."
        )
    return out


@dataclass
class Members:
    """The plain files read from a zip, in its order, and sentences about those left out."""

    files: list[tuple[str, bytes]] = field(default_factory=list)  # (normalised path, bytes)
    skipped: list[str] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)  # path: sentence (``skip_damaged``)


def read_members(data: bytes, *, refuse=None, max_files: int = MAX_FILES,
                 max_total: int = MAX_TOTAL_BYTES, max_member: int = MAX_MEMBER_BYTES,
                 limits: dict[str, int] | None = None, skip_damaged: bool = False) -> Members:  # fmt: skip
    """Read every plain file of an untrusted zip into memory, with limits; nothing touches disk.

    Parameters
    ----------
    data : bytes
        The uploaded zip.
    refuse : callable taking a member's normalised path, optional
        Returns a sentence for a member to leave out unread (it goes to ``skipped``), or None.
    max_files, max_total, max_member : limits on the number of entries, the bytes unpacked in
        all and the bytes of any one member
    limits : dict, optional
        A larger (or smaller) ``max_member`` for members with these exact paths.
    skip_damaged : bool
        Leave out a member that cannot be unpacked (its sentence goes to ``damaged``) instead
        of refusing the zip.

    A second member with the same path is left out (a sentence in ``skipped``): the first is
    kept.

    Raises
    ------
    UserInputError
        Not a zip, damaged, too many entries, a member or the whole too large when unpacked
        (a zip bomb), a path that escapes the folder, a link or special file.
    """
    if not data:
        raise UserInputError("The zip is empty (0 bytes).")
    claimed = _entries_claimed(data)
    if claimed > max_files:  # refused before zipfile reads a directory of a million entries
        raise UserInputError(f"The zip holds {claimed} entries; at most {max_files} are accepted.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except UNREADABLE:
        raise UserInputError("That file is not a zip archive (or it is damaged).") from None
    out = Members()
    with zf:
        infos = zf.infolist()
        if len(infos) > max_files:
            raise UserInputError(
                f"The zip holds {len(infos)} entries; at most {max_files} are accepted."
            )
        total, seen = 0, set()
        for info in infos:
            path = _safe_path(info.filename)
            if _is_link_or_special(info):
                raise UserInputError(
                    f"The zip contains a link or special file ({info.filename!r}); only plain "
                    "files are accepted."
                )
            if info.is_dir() or any(part in info.filename for part in _IGNORED):
                continue
            reason = refuse(path) if refuse else None
            if reason:
                out.skipped.append(reason)
                continue
            if path in seen:
                out.skipped.append(
                    f"{path}: the zip holds two files of that name; the first was kept"
                )
                continue
            seen.add(path)
            member_limit = (limits or {}).get(path, max_member)
            if info.file_size > member_limit:
                raise UserInputError(
                    f"{path} would unpack to {info.file_size / 2**20:.0f} MB; files up to "
                    f"{member_limit // 2**20} MB are accepted."
                )
            try:
                content = _read_limited(zf, info, min(member_limit, max_total - total), max_total)
            except UserInputError:
                raise
            except UNREADABLE as err:
                said = _unreadable(path, err)
                if not skip_damaged:
                    raise UserInputError(said) from None
                out.damaged[path] = said
                continue
            total += len(content)
            out.files.append((path, content))
    return out


def _unreadable(path: str, err: Exception) -> str:
    """The sentence for a member that could not be unpacked."""
    detail = (str(err) or type(err).__name__)[:200].rstrip(".")
    if isinstance(err, RuntimeError) and "encrypted" in str(err):  # zipfile asks for a password
        return f"{path} could not be read: {detail}."
    return (
        f"{path} could not be unpacked ({detail}): the zip is damaged, or packed in a way this "
        "app cannot read; make it again from the original files."
    )


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_EOCD64_LOCATOR = struct.Struct("<4sLQL")  # just before it in a zip64 archive
_EOCD64 = struct.Struct("<4sQ2H2L4Q")  # zip64 end record, just before the locator


def _entries_claimed(data: bytes) -> int:
    """How many entries the zip's central directory holds, found without parsing it: the count
    its end record gives (the zip64 end record's when there is one), or the number of entry
    signatures in the directory, whichever is larger, so that a count that lies does not let a
    huge directory through. 0 when there is no end record (zipfile then refuses the file)."""
    pos = data.rfind(b"PK\x05\x06", max(0, len(data) - (1 << 16) - _EOCD.size))
    if pos < 0 or pos + _EOCD.size > len(data):
        return 0
    total, size = _EOCD.unpack_from(data, pos)[4:6]
    end = pos  # the directory is the ``size`` bytes before the end record(s), as zipfile reads it
    locator = pos - _EOCD64_LOCATOR.size
    if locator >= _EOCD64.size and data[locator : locator + 4] == b"PK\x06\x07":
        start64 = locator - _EOCD64.size
        if data[start64 : start64 + 4] == b"PK\x06\x06":
            total, size = _EOCD64.unpack_from(data, start64)[7:9]
            end = start64
    return max(total, data.count(b"PK\x01\x02", max(0, end - size), end))


def _read_limited(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int,
                  max_total: int = MAX_TOTAL_BYTES) -> bytes:  # fmt: skip
    """Decompress one member, stopping as soon as it exceeds ``limit`` bytes or inflates like
    a zip bomb."""
    chunks, size = [], 0
    with zf.open(info) as fh:
        while True:
            chunk = fh.read(1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > limit or (
                info.compress_size and size > MAX_RATIO * info.compress_size + 4096
            ):
                raise UserInputError(
                    f"{info.filename} inflates far beyond its packed size (a 'zip bomb'), or the "
                    f"archive unpacks to more than {max_total // 2**20} MB; it was refused."
                )
            chunks.append(chunk)
    return b"".join(chunks)
