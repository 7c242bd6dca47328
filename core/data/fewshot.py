"""A few-shot spoken-word task, built from speech synthesised with espeak-ng and Flite.

Four words and a background class, as a user of "Your own classes" would make it: a handful
of 1-s clips per class recorded by one or two people, and the model then asked about other
people. The training clips come from some voices and speaking rates, the test clips from
other voices and rates, so the test measures what a new voice gets. The background class is
room-like noise (brown and pink noise, mains hum, a fan's whirr) at several levels.

The voices come from two synthesisers that make speech in different ways. espeak-ng's voices
are variants of one formant model (rules shift its formants and pitch), so a network trained
on two of them hears the others as near relatives. Flite's kal16 is cut from one man's
recordings (diphones), and its awb, rms and slt are statistical voices, each learnt from one
person's recordings in the CMU ARCTIC corpus. Voices of the two engines differ about as much
as people do, so the training voices are one of each, and the test voices are other voices of
both.

``build(say=synth_say)`` is deterministic: the same arguments give the same clips in the same
order. ``say`` is any function (word, voice, speed, pitch) -> float32 samples at 16 kHz, so
tests can build the task without a synthesiser.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable

import numpy as np

from core.data.shipped import Dataset
from core.errors import UserInputError

SR = 16_000
WORDS = ("yes", "no", "up", "down")
BACKGROUND = "background"
FLITE = "flite:"  # a voice named "flite:NAME" is Flite's voice NAME; the others are espeak-ng's
TRAIN_VOICES = ("en-us+m3", f"{FLITE}rms")
TRAIN_RATES = ((140, 50), (175, 40), (200, 60), (160, 70))  # (words per minute, pitch)
VAL_RATES = ((150, 45), (185, 55))
# other voices: other English accents, and speakers of other languages saying the words
# and three of Flite's other voices
TEST_VOICES = ("en-gb-scotland+m1", "en-029+f3", "de+m5", "fr-fr+f4", "it+m7", "pl+f1",
               f"{FLITE}kal16", f"{FLITE}awb", f"{FLITE}slt")  # fmt: skip
TEST_RATES = ((130, 35), (170, 65), (210, 50))


def espeak_say(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """``word`` spoken by espeak-ng's ``voice`` at ``speed`` words per minute, 16 kHz mono."""
    from core.audio.clips import load_clip

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise UserInputError("espeak-ng is not installed (Debian: apt-get install espeak-ng).")
    wav = subprocess.run([exe, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", word],
                         capture_output=True, check=True, timeout=30).stdout  # fmt: skip
    return load_clip(wav, name=word, target_sr=SR).samples


def flite_say(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """``word`` spoken by Flite's ``voice`` (kal16, awb, rms or slt) at about ``speed`` words per
    minute, 16 kHz mono. Flite's voices share no pitch control, so ``pitch`` is not used."""
    from core.audio.clips import load_clip

    exe = shutil.which("flite")
    if exe is None:
        raise UserInputError("Flite is not installed (Debian: apt-get install flite).")
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "word.wav")
        stretch = f"duration_stretch={175 / speed:.3f}"  # 1 at Flite's own rate, about 175 wpm
        subprocess.run([exe, "-voice", voice, "--setf", stretch, "-t", word, "-o", out],
                       capture_output=True, check=True, timeout=30)  # fmt: skip
        with open(out, "rb") as f:
            return load_clip(f.read(), name=word, target_sr=SR).samples


def synth_say(word: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """``word`` spoken by ``voice``: Flite's for "flite:NAME", espeak-ng's otherwise."""
    if voice.startswith(FLITE):
        return flite_say(word, voice.removeprefix(FLITE), speed, pitch)
    return espeak_say(word, voice, speed, pitch)


def one_second(x: np.ndarray, *, offset: float = 0.5) -> np.ndarray:
    """Exactly 1 s: shorter clips padded with zeros (the word placed at ``offset`` of the room
    left), longer ones cut around their loudest 1 s."""
    x = np.asarray(x, dtype=np.float32)
    if len(x) >= SR:
        energy = np.convolve(x**2, np.ones(SR, dtype=np.float32), mode="valid")
        start = int(np.argmax(energy))
        return x[start : start + SR].copy()
    room = SR - len(x)
    start = int(round(room * offset))
    return np.pad(x, (start, room - start))


def background(n: int, *, seed: int) -> np.ndarray:
    """n one-second clips of room-like noise: (n, 16000) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(SR) / SR
    clips = []
    for i in range(n):
        kind = i % 4
        white = rng.standard_normal(SR)
        if kind == 0:  # brown noise: integrated white noise, low and rumbling
            x = np.cumsum(white)
            x -= np.convolve(x, np.ones(800) / 800, mode="same")
        elif kind == 1:  # pink-ish: white noise through a gentle low-pass
            x = np.convolve(white, np.exp(-np.arange(40) / 8), mode="same")
        elif kind == 2:  # mains hum and its harmonics, with a little hiss
            f0 = rng.choice([50.0, 60.0])
            x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6)) / k for k in (1, 2, 3))
            x = x + 0.1 * white
        else:  # a fan: noise amplitude-modulated at its blade rate
            x = white * (1 + 0.5 * np.sin(2 * np.pi * rng.uniform(15, 40) * t))
        x = x / (np.abs(x).max() + 1e-9) * 10 ** (rng.uniform(-40, -15) / 20)
        clips.append(x.astype(np.float32))
    return np.stack(clips)


def build(*, say: Callable[[str, str, int, int], np.ndarray] = synth_say, per_class: int = 8,
          seed: int = 0) -> Dataset:  # fmt: skip
    """The few-shot task: per word ``per_class`` training clips (train voices and rates),
    2 validation clips per voice (other rates), and test clips from other voices and rates;
    the background class gets as many clips in each split as a word does."""
    if not 1 <= per_class <= len(TRAIN_VOICES) * len(TRAIN_RATES):
        raise UserInputError(
            f"At most {len(TRAIN_VOICES) * len(TRAIN_RATES)} training clips per class here."
        )
    rng = np.random.default_rng(seed)
    names = (*WORDS, BACKGROUND)
    xs, ys, info, split = [], [], [], []

    rooms = background(64, seed=seed + 99)

    def add(clip, label, where, **meta):
        clip = one_second(clip, offset=rng.uniform(0.2, 0.8))
        if label < len(WORDS):  # a word said in a room: its noise at 10-30 dB below, any level
            noise = rooms[rng.integers(len(rooms))]
            snr = rng.uniform(10, 30)
            rms = np.sqrt(np.mean(clip**2)) + 1e-9
            clip = clip + noise / (np.sqrt(np.mean(noise**2)) + 1e-9) * rms * 10 ** (-snr / 20)
            clip = clip * 10 ** (rng.uniform(-12, 0) / 20)
        xs.append(clip.astype(np.float32))
        ys.append(label)
        split.append(where)
        info.append(meta)

    # rate by rate, each voice in turn: fewer than 8 clips still come from both voices
    train_takes = [(v, s, p) for s, p in TRAIN_RATES for v in TRAIN_VOICES]
    for w, word in enumerate(WORDS):
        for v, s, p in train_takes[:per_class]:
            add(say(word, v, s, p), w, "train", word=word, voice=v, speed=s)
        for v in TRAIN_VOICES:
            for s, p in VAL_RATES:
                add(say(word, v, s, p), w, "val", word=word, voice=v, speed=s)
        for v in TEST_VOICES:
            for s, p in TEST_RATES:
                add(say(word, v, s, p), w, "test", word=word, voice=v, speed=s)
    counts = {k: split.count(k) // len(WORDS) for k in ("train", "val", "test")}
    for k, n in counts.items():
        for clip in background(n, seed=seed * 1000 + len(k) * 7 + n):
            add(clip, len(WORDS), k, word=BACKGROUND, voice="room", speed=0)
    y = np.array(ys, dtype=np.int64)
    where = np.array(split)
    splits = {k: np.flatnonzero(where == k).astype(np.int64) for k in ("train", "val", "test")}
    return Dataset(name="fewshot words", kind="audio", x=np.stack(xs), y=y, class_names=names,
                   splits=splits, sample_rate=SR, info=info)  # fmt: skip
