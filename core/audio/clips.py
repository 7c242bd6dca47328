"""Decode and check a clip: bytes in, mono float32 samples out, with notes on what was done."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserInputError

MIN_SR = 8_000
MAX_SR = 192_000
MAX_CELLS = 12_000_000  # STFT cells (bins x frames) the page computes at most
WINDOWS = ("hann", "hamming", "blackman", "rectangular")
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "audio"
EXAMPLES = {
    "speech_it.ogg": "Spoken Italian sentence (synthetic voice)",
    "speech_en.ogg": "Spoken English sentence (synthetic voice)",
    "plucked.ogg": "Plucked-string phrase (Karplus-Strong)",
    "chirp.ogg": "Sine sweep from 100 Hz to 7 kHz (chirp)",
    "harmonics.ogg": "A 220 Hz tone with harmonics",
    "noisy.ogg": "English sentence in white noise",
}

_CLIP_LEVEL = 0.999  # |x| at or above this counts as full scale
_QUIET_PEAK = 0.01  # peak below -40 dBFS counts as very quiet


# ----------------------------------------------------------------------------- clips


@dataclass(frozen=True)
class Clip:
    """A decoded, checked mono clip ready for analysis.

    Attributes
    ----------
    samples : np.ndarray
        Shape (n_samples,), float32, mono, at ``sr``.
    sr : int
        Sampling rate in Hz of ``samples``.
    name : str
        What the user called it (file name or example name).
    notes : list of str
        Sentences about what was done to the file or found in it (downmix, resampling,
        trimming, clipping, quiet or silent audio), shown on the page.
    source_sr : int
        The rate stored in the file.
    source_channels : int
        The channel count stored in the file.
    source_seconds : float
        The file's duration before any trimming.
    digest : str
        A hash of ``samples`` and ``sr``, so caches need not hash the samples again.
    """

    samples: np.ndarray
    sr: int
    name: str
    notes: list[str] = field(default_factory=list)
    source_sr: int = 0
    source_channels: int = 1
    source_seconds: float = 0.0
    digest: str = ""  # blake2b of the samples and rate: a cheap cache key for the whole clip

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.n_samples / self.sr


def _sniff_format(data: bytes) -> str | None:
    """Name the container a file claims to be from its first bytes, or None."""
    head = data[:12]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "WAV"
    if head[:4] == b"fLaC":
        return "FLAC"
    if head[:4] == b"OggS":
        return "OGG"
    if head[4:8] == b"ftyp":
        return "M4A"  # MP4 container: AAC from phones and many browsers
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "WebM"  # Matroska: Opus from browsers' recorders
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "AAC"  # ADTS frames (before MP3: both start with a sync word)
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "MP3"
    if head[:4] == b"FORM":
        return "AIFF"
    return None


def load_clip(
    data: bytes,
    *,
    name: str = "clip",
    target_sr: int = 16_000,
    max_seconds: float = 30.0,
) -> Clip:
    """Decode audio bytes, check them, and return a mono clip at ``target_sr``.

    Parameters
    ----------
    data : bytes
        The file's content: WAV, FLAC, OGG or MP3 (libsndfile), or M4A/AAC, WebM/Opus and
        whatever else FFmpeg (PyAV) decodes.
    name : str
        Shown in messages.
    target_sr : int
        The analysis rate; the clip is resampled to it when the file's rate differs.
    max_seconds : float
        Longer clips are cut to this length (stated in ``Clip.notes``).

    Returns
    -------
    Clip
        ``samples`` has shape (n_samples,), float32.

    Raises
    ------
    UserInputError
        Empty, damaged or non-audio data, no samples, NaN or infinite samples, or a file
        rate outside 8 to 192 kHz.
    """
    if not MIN_SR <= target_sr <= MAX_SR:
        raise UserInputError(
            f"The analysis rate must be between {MIN_SR} and {MAX_SR} Hz; got {target_sr} Hz."
        )
    if max_seconds <= 0:
        raise UserInputError("The length limit must be a positive number of seconds.")
    if not data:
        raise UserInputError(
            f"“{name}” is empty: the file has 0 bytes, so there is nothing to play."
        )
    audio, file_sr, n_frames, keep = _decode(data, name=name, max_seconds=max_seconds)
    _check_samples(audio, name=name, n_frames=n_frames)
    notes: list[str] = []
    audio = _fit_full_scale(audio, notes)
    channels = audio.shape[1]
    source_seconds = n_frames / file_sr
    mono = _to_mono(audio, notes)
    if keep < n_frames:  # cut at max_seconds, or at what one file may decode to
        kept = max_seconds if keep == round(max_seconds * file_sr) else keep / file_sr
        notes.append(
            f"The clip lasts {source_seconds:.1f} s; it was trimmed to its first {kept:g} s."
        )
    mono = _resample(mono, file_sr=file_sr, target_sr=target_sr, notes=notes)
    if mono.shape[0] == 0:
        raise UserInputError(f"“{name}” is too short to hold a single sample at {target_sr} Hz.")
    _level_notes(mono, notes)
    import hashlib

    digest = hashlib.blake2b(mono.tobytes() + str(target_sr).encode(), digest_size=16).hexdigest()
    return Clip(
        digest=digest,
        samples=mono,
        sr=int(target_sr),
        name=name,
        notes=notes,
        source_sr=file_sr,
        source_channels=channels,
        source_seconds=source_seconds,
    )


FORMATS = "WAV, FLAC, OGG, MP3, M4A/AAC or WebM/Opus"
UPLOAD_TYPES = ["wav", "flac", "ogg", "oga", "mp3", "m4a", "aac", "mp4", "webm", "opus"]
_AV_ONLY = {"M4A", "WebM", "AAC"}  # containers libsndfile does not read
MAX_CHANNELS = 8
# FFmpeg's readers for the audio files people have. Readers that open other files (concat
# lists, HLS and DASH playlists, image sequences) are never used: an upload could name files
# on the server.
AV_FORMATS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,ogg,mp3,aac,flac,wav,w64,aiff,caf,amr"
# At most this many samples (all channels) are decoded from one file: 256 MB of float32.
MAX_DECODED_VALUES = 2**26


def _decode(data: bytes, *, name: str, max_seconds: float) -> tuple[np.ndarray, int, int, int]:
    """Samples (n, channels) of at most ``max_seconds``, the file's rate, its length in
    frames and the frames asked for.

    libsndfile reads WAV, FLAC, OGG and MP3; what phones and browsers record (AAC in M4A,
    Opus in WebM) and anything libsndfile refuses goes to FFmpeg through PyAV."""
    kind = _sniff_format(data)
    if kind in _AV_ONLY:
        return _decode_av(data, name=name, max_seconds=max_seconds, kind=kind)
    try:
        return _decode_sf(data, name=name, max_seconds=max_seconds, kind=kind)
    except UserInputError as sf_error:
        if "sampled at" in str(sf_error):
            raise
        try:
            return _decode_av(data, name=name, max_seconds=max_seconds, kind=kind)
        except UserInputError:
            raise sf_error from None


def _frames_to_keep(max_seconds: float, file_sr: int, channels: int) -> int:
    """Frames to decode: ``max_seconds`` of them, and no more than MAX_DECODED_VALUES samples."""
    return min(int(round(max_seconds * file_sr)), MAX_DECODED_VALUES // max(channels, 1))


def _decode_av(data: bytes, *, name: str, max_seconds: float,
               kind: str | None) -> tuple[np.ndarray, int, int, int]:  # fmt: skip
    """Decode the first audio stream with FFmpeg (PyAV), stopping at ``max_seconds``."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore",
                     options={"format_whitelist": AV_FORMATS}) as container:  # fmt: skip
            streams = [st for st in container.streams if st.type == "audio"]
            if not streams:
                raise UserInputError(f"“{name}” holds no sound track.")
            stream = streams[0]
            file_sr = int(stream.rate or stream.codec_context.sample_rate or 0)
            if not MIN_SR <= file_sr <= MAX_SR:
                raise UserInputError(
                    f"“{name}” is sampled at {file_sr} Hz; this page accepts rates from "
                    f"{MIN_SR} Hz to {MAX_SR} Hz. Re-export it at 16000 or 44100 Hz."
                )
            channels = int(stream.codec_context.channels or 1)
            if not 1 <= channels <= MAX_CHANNELS:
                raise UserInputError(f"“{name}” has {channels} channels; at most {MAX_CHANNELS}.")
            keep = _frames_to_keep(max_seconds, file_sr, channels)
            seconds = (container.duration or 0) / 1_000_000  # as the container says, if it does
            # every sample format (16-bit, 32-bit, float, packed or planar) as planar float32
            to_float = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=file_sr)
            chunks, got, longer = [], 0, False
            for frame in container.decode(stream):
                for out in to_float.resample(frame):
                    a = out.to_ndarray()  # (channels, n)
                    chunks.append(np.asarray(a, dtype=np.float32))
                    got += a.shape[1]
                if got > keep:
                    longer = True
                    break
    except UserInputError:
        raise
    except Exception as exc:  # FFmpeg raises its own errors for undecodable data
        what = (
            f"looks like a {kind} file but" if kind else "is not an audio file this page can read:"
        )
        raise UserInputError(
            f"“{name}” {what} could not be decoded (it may be damaged or cut short). "
            f"Upload {FORMATS}."
        ) from exc
    audio = np.concatenate(chunks, axis=1).T if chunks else np.zeros((0, channels), np.float32)
    audio = np.ascontiguousarray(audio[:keep])
    n_frames = audio.shape[0]
    if longer:  # the whole length, from the container where it says, else "more than kept"
        n_frames = max(int(round(seconds * file_sr)), keep + 1)
    return audio, file_sr, n_frames, min(keep, audio.shape[0])


def _decode_sf(data: bytes, *, name: str, max_seconds: float,
               kind: str | None) -> tuple[np.ndarray, int, int, int]:  # fmt: skip
    import soundfile as sf

    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            file_sr, n_frames = int(f.samplerate), int(f.frames)
            if not MIN_SR <= file_sr <= MAX_SR:
                raise UserInputError(
                    f"“{name}” is sampled at {file_sr} Hz; this page accepts rates from "
                    f"{MIN_SR} Hz to {MAX_SR} Hz. Re-export it at 16000 or 44100 Hz."
                )
            if not 1 <= f.channels <= MAX_CHANNELS:
                raise UserInputError(f"“{name}” has {f.channels} channels; at most {MAX_CHANNELS}.")
            keep = min(n_frames, _frames_to_keep(max_seconds, file_sr, f.channels))
            audio = f.read(frames=keep, dtype="float32", always_2d=True)  # (n, channels)
    except UserInputError:
        raise
    except Exception as exc:  # libsndfile raises several types for undecodable data
        if kind is not None:
            raise UserInputError(
                f"“{name}” looks like a {kind} file but could not be decoded: it is probably "
                "damaged or cut short. Try exporting it again."
            ) from exc
        raise UserInputError(
            f"“{name}” is not an audio file this page can read. Upload {FORMATS}."
        ) from exc
    return audio, file_sr, n_frames, keep


def _check_samples(audio: np.ndarray, *, name: str, n_frames: int) -> None:
    if n_frames == 0 or audio.shape[0] == 0:
        raise UserInputError(
            f"“{name}” is a valid audio file but holds 0 samples: it has no sound."
        )
    if not np.all(np.isfinite(audio)):
        bad = int(np.count_nonzero(~np.isfinite(audio)))
        raise UserInputError(
            f"“{name}” contains {bad} sample(s) that are NaN or infinite, which is not sound. "
            "The file is broken; export it again from the program that made it."
        )


def _fit_full_scale(audio: np.ndarray, notes: list[str]) -> np.ndarray:
    """Samples beyond ±1 (only a floating-point file can hold them) scaled down to fit, so
    every later stage stays finite."""
    peak = float(np.max(np.abs(audio)))
    if peak <= 1.0:
        return audio
    notes.append(
        f"The file's samples reach ±{peak:.3g}, beyond full scale (±1): the clip was scaled "
        f"down by {20 * np.log10(peak):.0f} dB to fit."
    )
    return (audio / np.float32(peak)).astype(np.float32)


def _to_mono(audio: np.ndarray, notes: list[str]) -> np.ndarray:
    """(n, channels) -> (n,) by averaging the channels; notes a downmix and clipped samples."""
    channels = audio.shape[1]
    if channels > 1:
        label = "stereo" if channels == 2 else f"{channels} channels"
        notes.append(
            f"The file is {label} ({channels} channels): they were averaged into one mono channel."
        )
    full = np.abs(audio) >= _CLIP_LEVEL
    if np.count_nonzero(full[1:] & full[:-1]):  # runs at full scale: flattened tops
        notes.append(
            f"Clipped samples found: {int(np.count_nonzero(full))} samples sit at full scale "
            "(±1). Clipping flattens the wave and adds harmonics that were not in the sound."
        )
    return audio.mean(axis=1, dtype=np.float32) if channels > 1 else audio[:, 0].copy()


def _resample(mono: np.ndarray, *, file_sr: int, target_sr: int, notes: list[str]) -> np.ndarray:
    if file_sr == target_sr:
        return mono
    import librosa

    mono = librosa.resample(mono, orig_sr=file_sr, target_sr=target_sr, res_type="soxr_hq")
    notes.append(f"Resampled from {file_sr} Hz to {target_sr} Hz, the analysis rate.")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _level_notes(mono: np.ndarray, notes: list[str]) -> None:
    peak = float(np.max(np.abs(mono)))
    if peak == 0.0:
        notes.append(
            "The clip is silent: every sample is 0, so every spectrum below is flat at its floor."
        )
    elif peak < _QUIET_PEAK:
        notes.append(
            f"The clip is very quiet: its loudest sample is {20 * np.log10(peak):.0f} dBFS "
            "(0 dBFS is full scale). It is analysed as it is."
        )


def load_example(filename: str, *, target_sr: int = 16_000, max_seconds: float = 30.0) -> Clip:
    """Load one of the shipped clips in assets/audio by file name (see ``EXAMPLES``)."""
    if filename not in EXAMPLES:
        raise UserInputError(f"There is no example called “{filename}”.")
    data = (EXAMPLES_DIR / filename).read_bytes()
    return load_clip(data, name=filename, target_sr=target_sr, max_seconds=max_seconds)


def envelope(
    samples: np.ndarray, *, sr: int, start_s: float, end_s: float, max_points: int = 4000
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Samples of a time range for drawing, thinned to a min/max envelope when too many.

    Parameters
    ----------
    samples : np.ndarray
        Shape (n_samples,).
    sr : int
        Sampling rate in Hz.
    start_s, end_s : float
        The time range in seconds.
    max_points : int
        When the range holds more samples, each of ``max_points // 2`` blocks is drawn by
        its minimum and maximum, so no peak is lost.

    Returns
    -------
    t : np.ndarray
        Shape (k,), seconds.
    y : np.ndarray
        Shape (k,), the samples (exact) or the envelope.
    exact : bool
        True when every sample in the range is returned unchanged.
    """
    n = samples.shape[0]
    i0 = max(0, min(n - 1, int(np.floor(start_s * sr))))
    i1 = max(i0 + 1, min(n, int(np.ceil(end_s * sr)) + 1))
    seg = samples[i0:i1]
    if seg.shape[0] <= max_points:
        return (np.arange(i0, i1) / sr), seg, True
    blocks = max_points // 2
    size = int(np.ceil(seg.shape[0] / blocks))
    pad = blocks * size - seg.shape[0]
    padded = np.pad(seg, (0, pad), mode="edge").reshape(blocks, size)  # (blocks, size)
    lo, hi = padded.min(axis=1), padded.max(axis=1)
    y = np.stack([lo, hi], axis=1).reshape(-1)  # (2 * blocks,)
    t = i0 + np.repeat(np.arange(blocks) * size, 2) + np.tile([0, size // 2], blocks)
    return t / sr, y, False


def region(samples: np.ndarray, *, sr: int, start_s: float, end_s: float) -> np.ndarray:
    """The samples between two times, shape (k,); raises when the range is empty."""
    i0 = max(0, int(round(start_s * sr)))
    i1 = min(samples.shape[0], int(round(end_s * sr)))
    if i1 - i0 < 1:
        raise UserInputError("The selected region is empty: choose an end after the start.")
    return samples[i0:i1]


MIN_SIGNAL_SECONDS = 0.032  # one analysis frame of the features a network reads: 512 samples
# at 16 kHz, core.audio.features.FeatureSettings' default n_fft (tests check they agree)
SILENCE_PEAK = 1e-4  # -80 dBFS: below this a clip is digital silence (16-bit's step is -90)


def require_signal(clip: Clip, *, purpose: str = "classify", frame: int | None = None) -> Clip:
    """Refuse a clip that carries nothing to ``purpose``: too short or digitally silent.

    The audio explorer shows such clips (they teach what silence looks like); the pages that
    train on clips or ask a model about them refuse them with a sentence, since any answer
    about silence is a guess dressed as a probability.

    Parameters
    ----------
    clip : Clip
        A decoded clip (``load_clip``).
    purpose : str
        What would be done with it, for the sentence ("classify", "learn from").
    frame : int, optional
        The analysis frame in samples at ``clip.sr`` of the features that will read the clip
        (a model's window length); by default ``MIN_SIGNAL_SECONDS`` of samples.

    Raises
    ------
    UserInputError
        Fewer samples than one frame, or a peak below ``SILENCE_PEAK`` (-80 dBFS).
    """
    need = int(frame) if frame else math.ceil(MIN_SIGNAL_SECONDS * clip.sr)
    if clip.samples.shape[0] < need:
        raise UserInputError(
            f"“{clip.name}” lasts {1000 * clip.samples.shape[0] / clip.sr:.1f} ms: shorter than "
            f"one {1000 * need / clip.sr:.0f} ms analysis window, so there is nothing to "
            f"{purpose}. Record or upload at least a fraction of a second."
        )
    peak = float(np.max(np.abs(clip.samples)))
    if peak < float(np.float32(SILENCE_PEAK)):  # samples are float32: -80 dBFS itself passes
        level = (
            "every sample is 0"
            if peak == 0
            else f"its loudest sample is {20 * np.log10(peak):.0f} dBFS"
        )
        raise UserInputError(
            f"“{clip.name}” carries no signal ({level}): there is nothing to {purpose}, and any "
            "answer would be a guess. Check the microphone or the file."
        )
    return clip
