"""Make the example clips in assets/audio (rerunnable; the app only reads the results).

Run from the repository root::

    apt-get install -y espeak-ng          # only needed for the two speech clips
    .venv/bin/python scripts/make_audio_assets.py

Every clip is mono OGG Vorbis. The speech clips are synthesised offline with espeak-ng; the
others are computed here from seeded formulas, so a rerun gives the same sound.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

OUT = Path(__file__).resolve().parents[1] / "assets" / "audio"
SR = 16_000
SR_MUSIC = 22_050

SPEECH = {
    "speech_it.ogg": ("it", "Accendi le luci del soggiorno, per favore. Che tempo farà domani?"),
    "speech_en.ogg": (
        "en-us",
        "Turn on the lights in the living room, please. Will it rain tomorrow?",
    ),
}


def espeak(voice: str, text: str, *, sr: int = SR) -> np.ndarray:
    """Speak ``text`` with espeak-ng and return it at ``sr``, shape (n,), peak 0.8."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng is not installed: apt-get install -y espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run([exe, "-v", voice, "-s", "150", "-w", str(wav), text], check=True)
        y, file_sr = sf.read(wav, dtype="float32")
    if y.ndim > 1:
        y = y.mean(axis=1)
    y = librosa.resample(y, orig_sr=file_sr, target_sr=sr, res_type="soxr_hq")
    y, _ = librosa.effects.trim(y, top_db=50)
    return normalise(y)


def normalise(y: np.ndarray, peak: float = 0.8) -> np.ndarray:
    return (peak * y / np.max(np.abs(y))).astype(np.float32)


def fade(y: np.ndarray, sr: int, seconds: float = 0.02) -> np.ndarray:
    n = int(seconds * sr)
    ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
    y = y.copy()
    y[:n] *= ramp
    y[-n:] *= ramp[::-1]
    return y


def karplus_strong(freq: float, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One plucked note: a burst of noise circulating through a delay line with a lowpass."""
    period = int(round(sr / freq))
    buf = rng.uniform(-1.0, 1.0, period)
    n = int(seconds * sr)
    out = np.empty(n)
    for i in range(n):
        out[i] = buf[i % period]
        buf[i % period] = 0.996 * 0.5 * (buf[i % period] + buf[(i + 1) % period])
    return out


def plucked(sr: int = SR_MUSIC) -> np.ndarray:
    """A short phrase: A3 C4 E4 A4 E4 C4, each note ringing under the next."""
    rng = np.random.default_rng(4)
    notes = [220.0, 261.63, 329.63, 440.0, 329.63, 261.63]
    step, ring = 0.4, 1.2
    y = np.zeros(int((step * (len(notes) - 1) + ring) * sr))
    for k, f in enumerate(notes):
        start = int(k * step * sr)
        note = karplus_strong(f, ring, sr, rng)
        y[start : start + note.size] += note
    return fade(normalise(y), sr)


def chirp(sr: int = SR) -> np.ndarray:
    """A logarithmic sine sweep from 100 Hz to 7 kHz in 4 s."""
    t = np.arange(int(4.0 * sr)) / sr
    return fade(
        normalise(librosa.chirp(fmin=100, fmax=7000, sr=sr, duration=4.0, linear=False)[: t.size]),
        sr,
    )


def harmonics(sr: int = SR) -> np.ndarray:
    """A 220 Hz tone with harmonics 1..8 at amplitude 1/k, 3 s."""
    t = np.arange(int(3.0 * sr)) / sr
    y = sum(np.sin(2 * np.pi * 220.0 * k * t) / k for k in range(1, 9))
    return fade(normalise(y), sr)


def noisy(speech: np.ndarray, snr_db: float = 5.0) -> np.ndarray:
    """The English sentence plus seeded white noise at ``snr_db`` dB signal-to-noise ratio."""
    rng = np.random.default_rng(7)
    noise = rng.standard_normal(speech.size)
    p_s, p_n = np.mean(speech.astype(np.float64) ** 2), np.mean(noise**2)
    noise *= np.sqrt(p_s / (p_n * 10 ** (snr_db / 10)))
    return normalise(speech + noise)


def write(name: str, y: np.ndarray, sr: int) -> None:
    path = OUT / name
    sf.write(path, y, sr, format="OGG", subtype="VORBIS")
    print(f"{name}: {y.size / sr:.2f} s at {sr} Hz, {path.stat().st_size / 1024:.0f} KiB")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    spoken = {}
    for name, (voice, text) in SPEECH.items():
        spoken[name] = espeak(voice, text)
        write(name, spoken[name], SR)
    write("plucked.ogg", plucked(), SR_MUSIC)
    write("chirp.ogg", chirp(), SR)
    write("harmonics.ogg", harmonics(), SR)
    write("noisy.ogg", noisy(spoken["speech_en.ogg"]), SR)


if __name__ == "__main__":
    main()
