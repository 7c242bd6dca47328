"""Render the General MIDI instrument set (assets/gm_instruments) with FluidSynth.

Thirty melodic General MIDI instruments from distinct families (keyboards, mallets, organs,
reeds, guitars, basses, bowed and plucked strings, brass, woodwinds, pipes), each played at
12 pitches spread over its playable range, two notes per pitch at different velocities and
lengths: 24 one-second notes per instrument, 720 in all. The notes are rendered from the
Fluid R3 General MIDI SoundFont by the ``fluidsynth`` program, at 44.1 kHz, then mixed to
mono, resampled to 16 kHz, cut to exactly 1.0 s (the note starts 0-80 ms in), brought to a
common loudness (the loudest 50 ms at -18 dBFS RMS, by at most 12 dB either way, so soft
notes stay a little softer; peaks under -1 dBFS) and
stored as OGG Vorbis, one file per instrument (the notes one after the other with 0.25 s of
silence between them). ``index.csv`` says where each note starts and how long it is (samples
at 16 kHz), which instrument, General MIDI program, pitch, velocity and length it is, and
its split.

The split is fixed here, per instrument: of the 12 pitches, two inner ones are the test
split and two others the validation split (4 notes each), the other 8 pitches (16 notes)
train. So the test notes are at pitches the network never heard that instrument play:
what it must recognise is the timbre, not a remembered note.

The MIDI files are written by hand (:func:`midi_file`, a format-0 Standard MIDI File): one
per instrument, a note every 3 seconds; 0.5 s before each note an "all sound off" message
silences what still rings of the one before (outside its 1 s clip), so no note leaks into
the next one's clip.

Run from the repository root (needs ``apt-get install fluidsynth fluid-soundfont-gm``)::

    python scripts/render_instruments.py

The result is the same on every run for a given FluidSynth (2.3.1 was used), SoundFont
(Debian's fluid-soundfont-gm 3.1), libsndfile / libvorbis and seed.
"""

from __future__ import annotations

import argparse
import csv
import io
import struct
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

SR = 16_000
RENDER_SR = 44_100
CLIP = SR  # samples per note: exactly 1.0 s
GAP = SR // 4  # silence between the notes in a stored file
SPACING_S = 3.0  # seconds between note starts in a rendered MIDI file
SILENCE_BEFORE_S = 0.5  # all sound off this long before the next note (its reverb dies away)
MAX_ONSET_S = 0.08
PITCH_SLOTS = 12
TARGET_DB = -18.0  # RMS of the loudest 50 ms of a note
WINDOW = SR // 20  # 50 ms
MAX_GAIN_DB = 12.0
PEAK = 10 ** (-1 / 20)  # -1 dBFS
OGG_SERIAL = 0x474D3330  # 'GM30': the same stream serial in every file, on every run
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
OUT = Path(__file__).resolve().parent.parent / "assets" / "gm_instruments"

#: (name, General MIDI program 0-127, lowest and highest MIDI note played): roughly the
#: instrument's usual compass (a piano is played over five octaves, not all seven).
INSTRUMENTS: tuple[tuple[str, int, int, int], ...] = (
    ("piano", 0, 36, 96),
    ("harpsichord", 6, 41, 84),
    ("vibraphone", 11, 53, 89),
    ("marimba", 12, 45, 96),
    ("xylophone", 13, 65, 96),
    ("tubular bells", 14, 60, 77),
    ("drawbar organ", 16, 36, 96),
    ("church organ", 19, 36, 96),
    ("accordion", 21, 53, 89),
    ("harmonica", 22, 60, 84),
    ("nylon guitar", 24, 40, 76),
    ("steel guitar", 25, 40, 79),
    ("distortion guitar", 30, 40, 79),
    ("acoustic bass", 32, 28, 55),
    ("electric bass", 33, 28, 60),
    ("violin", 40, 55, 91),
    ("cello", 42, 36, 76),
    ("pizzicato strings", 45, 36, 84),
    ("harp", 46, 36, 91),
    ("trumpet", 56, 54, 82),
    ("trombone", 57, 40, 72),
    ("tuba", 58, 28, 58),
    ("french horn", 60, 41, 77),
    ("alto sax", 65, 49, 81),
    ("oboe", 68, 58, 91),
    ("bassoon", 70, 34, 75),
    ("clarinet", 71, 50, 91),
    ("flute", 73, 60, 96),
    ("pan flute", 75, 60, 96),
    ("banjo", 105, 48, 84),
)
VELOCITIES = (45, 75, 105)  # soft, medium, loud (each note jittered by up to 8)
COLUMNS = ("file", "start", "length", "instrument", "program", "pitch", "velocity",
           "duration", "onset", "reverb", "split")  # fmt: skip


# ---------------------------------------------------------------------- MIDI by hand ----


def varlen(n: int) -> bytes:
    """A MIDI variable-length quantity: 7 bits a byte, the high bit set on all but the last."""
    if n < 0:
        raise ValueError("a MIDI delta time cannot be negative")
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def note_on(pitch: int, velocity: int, channel: int = 0) -> bytes:
    return bytes((0x90 | channel, pitch, velocity))


def note_off(pitch: int, channel: int = 0) -> bytes:
    return bytes((0x80 | channel, pitch, 64))


def program_change(program: int, channel: int = 0) -> bytes:
    return bytes((0xC0 | channel, program))


def control_change(controller: int, value: int, channel: int = 0) -> bytes:
    return bytes((0xB0 | channel, controller, value))


def midi_file(events, *, end_s: float, ticks_per_beat: int = 480, tempo_us: int = 500_000) -> bytes:
    """A format-0 Standard MIDI File of ``events``.

    Parameters
    ----------
    events : iterable of (seconds, message bytes)
        Channel messages (see :func:`note_on` and friends); events at the same time keep
        their order.
    end_s : the end-of-track time in seconds (at or after the last event)
    ticks_per_beat, tempo_us : the file's time base (default: 120 beats a minute, 960 ticks
        a second)
    """
    ticks_per_s = ticks_per_beat * 1e6 / tempo_us
    track = bytearray(b"\x00\xff\x51\x03" + tempo_us.to_bytes(3, "big"))  # set tempo
    now = 0
    for t, message in sorted(events, key=lambda e: e[0]):  # stable: ties keep their order
        tick = round(t * ticks_per_s)
        track += varlen(tick - now) + bytes(message)
        now = tick
    track += varlen(max(0, round(end_s * ticks_per_s) - now)) + b"\xff\x2f\x00"  # end of track
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


def render(mid: Path, wav: Path, *, soundfont: Path = SOUNDFONT, sample_rate: int = RENDER_SR):
    """Render a MIDI file to a 32-bit float stereo WAV file with fluidsynth (no audio device)."""
    subprocess.run(
        ["fluidsynth", "-q", "-n", "-i", "-g", "1.0", "-r", str(sample_rate), "-O", "float",
         "-T", "wav", "-F", str(wav), str(soundfont), str(mid)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip


# ------------------------------------------------------------------ stable OGG files ----


def _ogg_crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return table


_OGG_CRC = _ogg_crc_table()


def set_ogg_serial(data: bytes, serial: int) -> bytes:
    """The Ogg stream ``data`` with every page's stream serial number set to ``serial``.

    libsndfile picks a random serial number for each file it writes, so two runs would write
    different bytes for the same audio; a fixed one makes the files the same on every run.
    Each page's CRC (polynomial 0x04C11DB7, over the page with its CRC field zeroed) is
    computed again.
    """
    out = bytearray(data)
    pos = 0
    while pos < len(out):
        if out[pos : pos + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {pos}")
        n_segments = out[pos + 26]
        size = 27 + n_segments + sum(out[pos + 27 : pos + 27 + n_segments])
        out[pos + 14 : pos + 18] = serial.to_bytes(4, "little")
        out[pos + 22 : pos + 26] = b"\0\0\0\0"
        crc = 0
        for byte in out[pos : pos + size]:
            crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC[(crc >> 24) ^ byte]
        out[pos + 22 : pos + 26] = crc.to_bytes(4, "little")
        pos += size
    return bytes(out)


# ---------------------------------------------------------------------- the notes ----


def plan(seed: int) -> list[dict]:
    """Every note to render: instrument, pitch, velocity, length, onset, reverb and split."""
    rng = np.random.default_rng(seed)
    notes = []
    for name, program, lo, hi in INSTRUMENTS:
        pitches = np.round(np.linspace(lo, hi, PITCH_SLOTS)).astype(int)
        held = rng.choice(np.arange(1, PITCH_SLOTS - 1), size=4, replace=False)  # inner slots
        split_of = {int(held[0]): "test", int(held[1]): "test",
                    int(held[2]): "val", int(held[3]): "val"}  # fmt: skip
        for slot, pitch in enumerate(pitches):
            levels = rng.choice(VELOCITIES, size=2, replace=False)
            for level in levels:
                notes.append(
                    {
                        "instrument": name,
                        "program": program,
                        "pitch": int(pitch),
                        "velocity": int(np.clip(level + rng.integers(-8, 9), 1, 127)),
                        "duration": round(float(rng.uniform(0.25, 0.9)), 3),
                        "onset": round(float(rng.uniform(0.0, MAX_ONSET_S)), 3),
                        "reverb": int(rng.integers(0, 61)),
                        "split": split_of.get(slot, "train"),
                    }
                )
    return notes


def instrument_midi(notes: list[dict]) -> bytes:
    """One instrument's notes, one every SPACING_S seconds, as a Standard MIDI File."""
    events = [(0.0, program_change(notes[0]["program"])), (0.0, control_change(93, 0))]
    for k, n in enumerate(notes):
        t = k * SPACING_S
        if k:  # silence what still rings of the note before (a loud guitar rings for seconds)
            events.append((t - SILENCE_BEFORE_S, control_change(120, 0)))  # all sound off
        events.append((t, control_change(91, n["reverb"])))  # reverb send
        events.append((t + n["onset"], note_on(n["pitch"], n["velocity"])))
        events.append((t + n["onset"] + n["duration"], note_off(n["pitch"])))
    return midi_file(events, end_s=len(notes) * SPACING_S)


def level(clip: np.ndarray) -> np.ndarray:
    """Bring a clip's loudest 50 ms to TARGET_DB RMS, by at most MAX_GAIN_DB either way, and
    keep its peak under -1 dBFS: soft notes stay somewhat softer than loud ones."""
    frames = clip[: len(clip) // WINDOW * WINDOW].reshape(-1, WINDOW)  # (frames, 50 ms)
    loud_db = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)).max() + 1e-12)
    gain = 10 ** (np.clip(TARGET_DB - loud_db, -MAX_GAIN_DB, MAX_GAIN_DB) / 20)
    clip = clip * gain
    peak = np.abs(clip).max()
    return clip * (PEAK / peak) if peak > PEAK else clip


def render_instrument(notes: list[dict], workdir: Path) -> list[np.ndarray]:
    """The instrument's notes as 1.0 s clips at 16 kHz, float32, levelled."""
    slug = notes[0]["instrument"].replace(" ", "_")
    mid, wav = workdir / f"{slug}.mid", workdir / f"{slug}.wav"
    mid.write_bytes(instrument_midi(notes))
    render(mid, wav)
    audio, sr = sf.read(wav, dtype="float64", always_2d=True)
    if sr != RENDER_SR:
        raise RuntimeError(f"fluidsynth wrote {sr} Hz, not {RENDER_SR}")
    mono = resample_poly(audio.mean(axis=1), SR, RENDER_SR)  # anti-aliased 44.1 -> 16 kHz
    need = int(len(notes) * SPACING_S * SR)
    mono = np.pad(mono, (0, max(0, need - len(mono))))
    clips = []
    for k in range(len(notes)):
        start = int(round(k * SPACING_S * SR))
        clips.append(level(mono[start : start + CLIP]).astype(np.float32))
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--quality", type=float, default=0.5, help="Vorbis quality 0-1")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--jobs", type=int, default=4, help="fluidsynth processes at once")
    args = parser.parse_args()
    if not SOUNDFONT.exists():
        raise SystemExit(f"{SOUNDFONT} is missing: apt-get install fluidsynth fluid-soundfont-gm")
    notes = plan(args.seed)
    by_instrument = {name: [n for n in notes if n["instrument"] == name]
                     for name, *_ in INSTRUMENTS}  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        clip_lists = pool.map(lambda ns: render_instrument(ns, Path(tmp)), by_instrument.values())
        rendered = dict(zip(by_instrument, clip_lists, strict=True))
    rows = []
    for name, clips in rendered.items():
        file = f"{name.replace(' ', '_')}.ogg"
        track = np.zeros(len(clips) * (CLIP + GAP) + GAP, dtype=np.float32)
        for k, (clip, note) in enumerate(zip(clips, by_instrument[name], strict=True)):
            start = GAP + k * (CLIP + GAP)
            track[start : start + CLIP] = clip
            rows.append({"file": file, "start": start, "length": CLIP, **note})
        buffer = io.BytesIO()
        with sf.SoundFile(buffer, "w", SR, 1, format="OGG", subtype="VORBIS",
                          compression_level=1.0 - args.quality) as f:  # fmt: skip
            for i in range(0, len(track), SR):
                f.write(track[i : i + SR])
        (args.out / file).write_bytes(set_ogg_serial(buffer.getvalue(), OGG_SERIAL))
        notes_of = zip(clips, by_instrument[name], strict=True)
        silent = [n["pitch"] for c, n in notes_of if np.abs(c).max() < 1e-3]
        print(f"{name:18s} {len(clips)} notes, {(args.out / file).stat().st_size / 1e3:6.1f} kB"
              + (f"; SILENT at pitches {silent}" if silent else ""))  # fmt: skip
    with open(args.out / "index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: r[k] for k in COLUMNS} for r in rows)
    total = sum(p.stat().st_size for p in args.out.iterdir())
    counts = {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}
    print(f"{len(rows)} notes of {len(rendered)} instruments ({counts}), {total / 1e6:.2f} MB "
          f"in {args.out}")  # fmt: skip


if __name__ == "__main__":
    main()
