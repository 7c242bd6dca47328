"""Audio in, log-mel out: decode and check a clip, then follow it to the image a CNN eats.

Every step is written out in numpy so it can be read, and every array equals librosa's for
the same parameters (tests/test_audio.py checks stft, filters.mel, feature.melspectrogram,
power_to_db and feature.mfcc value for value). Only the iterative Griffin-Lim reconstruction
and the resampler are borrowed from librosa.

Stages, in the order the audio page shows them::

    bytes --load_clip--> Clip.samples                      # (n_samples,) float32 mono
          --frame_at / stft--> complex spectrum            # (1 + n_fft // 2, n_frames)
          --mel_filterbank @ |X|**power--> mel spectrum    # (n_mels, n_frames)
          --power_to_db--> log-mel                         # (n_mels, n_frames), the CNN's input
          --mfcc--> cepstral coefficients                  # (n_mfcc, n_frames)

Run a stage from a notebook::

    from core import audio
    clip = audio.load_clip(open("assets/audio/speech_en.ogg", "rb").read(), name="speech_en")
    params = audio.StftParams(n_fft=512, hop_length=160)
    log_mel = audio.power_to_db(audio.mel_spectrogram(clip.samples, sr=clip.sr, stft=params))
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserInputError

MIN_SR = 8_000
MAX_SR = 192_000
MAX_CELLS = 12_000_000  # STFT cells (bins x frames) the page computes at most
WINDOWS = ("hann", "hamming", "blackman", "rectangular")
EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "audio"
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
        The file's content: WAV, FLAC, OGG or MP3 as far as libsndfile decodes them.
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
    import soundfile as sf

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
    kind = _sniff_format(data)
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            file_sr = int(f.samplerate)
            channels = int(f.channels)
            n_frames = int(f.frames)
            if not MIN_SR <= file_sr <= MAX_SR:
                raise UserInputError(
                    f"“{name}” is sampled at {file_sr} Hz; this page accepts rates from "
                    f"{MIN_SR} Hz to {MAX_SR} Hz. Re-export it at 16000 or 44100 Hz."
                )
            keep = min(n_frames, int(round(max_seconds * file_sr)))
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
            f"“{name}” is not an audio file this page can read. Upload WAV, FLAC, OGG or MP3."
        ) from exc

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

    notes: list[str] = []
    source_seconds = n_frames / file_sr
    if channels > 1:
        label = "stereo" if channels == 2 else f"{channels} channels"
        notes.append(
            f"The file is {label} ({channels} channels): they were averaged into one mono channel."
        )
    full = np.abs(audio) >= _CLIP_LEVEL
    flat_tops = int(np.count_nonzero(full[1:] & full[:-1]))
    if flat_tops:
        notes.append(
            f"Clipped samples found: {int(np.count_nonzero(full))} samples sit at full scale "
            "(±1). Clipping flattens the wave and adds harmonics that were not in the sound."
        )
    mono = audio.mean(axis=1, dtype=np.float32) if channels > 1 else audio[:, 0].copy()
    if keep < n_frames:
        notes.append(
            f"The clip lasts {source_seconds:.1f} s; it was trimmed to its first {max_seconds:g} s."
        )
    if file_sr != target_sr:
        import librosa

        mono = librosa.resample(mono, orig_sr=file_sr, target_sr=target_sr, res_type="soxr_hq")
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        notes.append(f"Resampled from {file_sr} Hz to {target_sr} Hz, the analysis rate.")
    if mono.shape[0] == 0:
        raise UserInputError(f"“{name}” is too short to hold a single sample at {target_sr} Hz.")
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


# ----------------------------------------------------------------------------- STFT


@dataclass(frozen=True)
class StftParams:
    """Parameters of a short-time Fourier transform, named as in librosa.

    ``win_length`` is the window length M, ``hop_length`` the hop R; the overlap is
    L = M - R. The window is zero-padded on both sides to ``n_fft`` samples.
    """

    n_fft: int = 512
    hop_length: int = 160
    win_length: int | None = None
    window: str = "hann"
    center: bool = True
    pad_mode: str = "constant"

    @property
    def win(self) -> int:
        return self.n_fft if self.win_length is None else self.win_length

    @property
    def overlap(self) -> int:
        return self.win - self.hop_length

    def check(self, n_samples: int | None = None) -> None:
        """Raise UserInputError with a sentence when the parameters cannot work together."""
        if self.n_fft < 2 or self.n_fft > 16384:
            raise UserInputError(f"n_fft must be between 2 and 16384; got {self.n_fft}.")
        if self.hop_length < 1:
            raise UserInputError(f"The hop must be at least 1 sample; got {self.hop_length}.")
        if self.win < 1 or self.win > self.n_fft:
            raise UserInputError(
                f"The window length M = {self.win} must be between 1 and n_fft = {self.n_fft}: "
                "the DFT cannot look at more samples than it has points."
            )
        if self.window not in WINDOWS:
            raise UserInputError(f"Unknown window “{self.window}”; choose one of {WINDOWS}.")
        if self.pad_mode not in ("constant", "reflect", "edge"):
            raise UserInputError("Padding must be constant (zeros), reflect or edge.")
        if n_samples is not None and self.n_frames(n_samples) * (self.n_fft // 2 + 1) > MAX_CELLS:
            raise UserInputError(
                f"These settings give {self.n_frames(n_samples):,} frames of "
                f"{self.n_fft // 2 + 1} bins, more than this page can draw. Use a larger hop "
                "or a shorter clip."
            )
        if n_samples is not None and not self.center and n_samples < self.n_fft:
            raise UserInputError(
                f"The clip has {n_samples} samples, fewer than n_fft = {self.n_fft}: without "
                "centring there is not a single full frame. Turn centring on or lower n_fft."
            )

    def n_frames(self, n_samples: int) -> int:
        """How many frames (columns) the STFT of ``n_samples`` samples has."""
        padded = n_samples + (2 * (self.n_fft // 2) if self.center else 0)
        return 1 + (padded - self.n_fft) // self.hop_length

    def frame_start(self, index: int) -> int:
        """Index in the clip of frame ``index``'s first sample (negative inside the padding)."""
        return index * self.hop_length - (self.n_fft // 2 if self.center else 0)


@functools.lru_cache(maxsize=64)
def _window(name: str, win_length: int, n_fft: int) -> np.ndarray:
    import scipy.signal

    scipy_name = "boxcar" if name == "rectangular" else name
    w = scipy.signal.get_window(scipy_name, win_length, fftbins=True)  # periodic, as librosa
    lpad = (n_fft - win_length) // 2
    out = np.zeros(n_fft, dtype=np.float64)
    out[lpad : lpad + win_length] = w
    out.setflags(write=False)
    return out


def window(params: StftParams) -> np.ndarray:
    """The analysis window, centred and zero-padded to n_fft, shape (n_fft,), read-only."""
    params.check()
    return _window(params.window, params.win, params.n_fft)


def _padded(y: np.ndarray, params: StftParams) -> np.ndarray:
    if not params.center:
        return y
    half = params.n_fft // 2
    return np.pad(y, (half, half), mode=params.pad_mode)


def frames(y: np.ndarray, params: StftParams) -> np.ndarray:
    """All frames of the (padded) signal as a read-only view, shape (n_frames, n_fft)."""
    params.check(y.shape[0])
    yp = _padded(y, params)
    view = np.lib.stride_tricks.sliding_window_view(yp, params.n_fft)  # (len - n_fft + 1, n_fft)
    return view[:: params.hop_length]


def stft(y: np.ndarray, params: StftParams) -> np.ndarray:
    """Short-time Fourier transform, equal to ``librosa.stft`` for the same parameters.

    Parameters
    ----------
    y : np.ndarray
        Shape (n_samples,), float32.
    params : StftParams

    Returns
    -------
    np.ndarray
        Shape (1 + n_fft // 2, n_frames), complex64: column m is the DFT of frame m times
        the window, X(m, k) = sum_n x(n + mR) w(n) exp(-2 pi i k n / N).
    """
    fr = frames(y, params)  # (n_frames, n_fft)
    spec = np.fft.rfft(fr * window(params), axis=1)  # (n_frames, 1 + n_fft // 2), float64 math
    out_dtype = np.complex64 if y.dtype == np.float32 else np.complex128
    return np.ascontiguousarray(spec.T, dtype=out_dtype)


def fft_frequencies(*, sr: int, n_fft: int) -> np.ndarray:
    """Centre frequency in Hz of each STFT row, shape (1 + n_fft // 2,)."""
    return np.fft.rfftfreq(n_fft, d=1.0 / sr)


def frame_times(n_frames: int, *, sr: int, params: StftParams) -> np.ndarray:
    """Time in seconds of each frame's centre in the clip, shape (n_frames,)."""
    offset = 0 if params.center else params.n_fft // 2
    return (np.arange(n_frames) * params.hop_length + offset) / sr


@dataclass(frozen=True)
class FrameView:
    """One step of the sliding window: the raw frame, the window, their product, its spectrum.

    Arrays ``raw``, ``window`` and ``windowed`` have shape (n_fft,); ``magnitude`` and
    ``freqs`` have shape (1 + n_fft // 2,). ``magnitude`` equals column ``index`` of
    ``abs(librosa.stft(...))``.
    """

    index: int
    n_frames: int
    start: int  # first sample in the clip (negative inside the centring pad)
    times: np.ndarray
    raw: np.ndarray
    window: np.ndarray
    windowed: np.ndarray
    magnitude: np.ndarray
    freqs: np.ndarray


def frame_at(y: np.ndarray, *, sr: int, params: StftParams, index: int) -> FrameView:
    """Frame ``index`` of the STFT of ``y``, step by step (see ``FrameView``)."""
    fr = frames(y, params)
    if not 0 <= index < fr.shape[0]:
        raise UserInputError(f"Frame {index} does not exist: the clip has {fr.shape[0]} frames.")
    raw = np.array(fr[index])
    w = window(params)
    windowed = raw * w
    mag = np.abs(np.fft.rfft(windowed).astype(np.complex64))
    start = params.frame_start(index)
    return FrameView(
        index=index,
        n_frames=fr.shape[0],
        start=start,
        times=(start + np.arange(params.n_fft)) / sr,
        raw=raw,
        window=np.asarray(w),
        windowed=windowed,
        magnitude=mag,
        freqs=fft_frequencies(sr=sr, n_fft=params.n_fft),
    )


def scale_spectrogram(
    S: np.ndarray,
    *,
    kind: str = "db",
    ref: str = "max",
    amin: float = 1e-10,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """A complex STFT shown as magnitude |X|, power |X|^2 or dB = power_to_db(|X|^2).

    Shape is kept: (1 + n_fft // 2, n_frames), float32.
    """
    mag = np.abs(S)
    if kind == "magnitude":
        return mag
    power = mag**2
    if kind == "power":
        return power
    if kind == "db":
        return power_to_db(power, ref=ref, amin=amin, top_db=top_db)
    raise UserInputError(f"Unknown scale “{kind}”: choose magnitude, power or db.")


def display_columns(
    times: np.ndarray, *, start_s: float, end_s: float, max_columns: int = 1000
) -> tuple[np.ndarray, int]:
    """Indices of the frames to draw: those centred in [start_s, end_s], every ``step``-th.

    ``times`` has shape (n_frames,). Returns ``(indices, step)``; the drawn columns are
    exact values, only fewer of them when the view holds more than ``max_columns``.
    """
    inside = np.flatnonzero((times >= start_s) & (times <= end_s))
    if inside.size == 0:  # a view narrower than one hop: draw the nearest frame
        inside = np.array([int(np.argmin(np.abs(times - 0.5 * (start_s + end_s))))])
    step = max(1, -(-inside.size // max_columns))
    return inside[::step], step


# ----------------------------------------------------------------------------- mel


def hz_to_mel(f: np.ndarray | float, *, htk: bool = False) -> np.ndarray:
    """Hertz to mel. HTK: m = 2595 log10(1 + f / 700). Slaney: linear to 1 kHz, log above."""
    f = np.asanyarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz,
        min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep,
        mels,
    )


def mel_to_hz(m: np.ndarray | float, *, htk: bool = False) -> np.ndarray:
    """Mel to hertz, the inverse of ``hz_to_mel``."""
    m = np.asanyarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(
        m >= min_log_mel,
        min_log_hz * np.exp(logstep * (m - min_log_mel)),
        f_sp * m,
    )


def mel_frequencies(n: int, *, fmin: float, fmax: float, htk: bool = False) -> np.ndarray:
    """``n`` frequencies in Hz evenly spaced on the mel scale, shape (n,)."""
    mels = np.linspace(hz_to_mel(fmin, htk=htk), hz_to_mel(fmax, htk=htk), n)
    return mel_to_hz(mels, htk=htk)


@dataclass(frozen=True)
class MelParams:
    """Parameters of a mel filterbank, named as in ``librosa.filters.mel``."""

    n_mels: int = 64
    fmin: float = 0.0
    fmax: float | None = None
    htk: bool = False
    norm: str | None = "slaney"

    def top(self, sr: int) -> float:
        return sr / 2 if self.fmax is None else float(self.fmax)

    def check(self, sr: int) -> None:
        if not 1 <= self.n_mels <= 512:
            raise UserInputError(f"n_mels must be between 1 and 512; got {self.n_mels}.")
        if self.fmin < 0:
            raise UserInputError(f"fmin must be 0 Hz or more; got {self.fmin:g} Hz.")
        if self.top(sr) > sr / 2:
            raise UserInputError(
                f"fmax = {self.top(sr):g} Hz is above the Nyquist frequency {sr / 2:g} Hz "
                f"(half the rate {sr} Hz): nothing exists up there."
            )
        if self.top(sr) <= self.fmin:
            raise UserInputError(
                f"fmax ({self.top(sr):g} Hz) must be above fmin ({self.fmin:g} Hz)."
            )
        if self.norm not in (None, "slaney"):
            raise UserInputError("The filterbank norm must be 'slaney' or none.")


@functools.lru_cache(maxsize=32)
def _mel_filterbank(
    sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool, norm: str | None
) -> np.ndarray:
    fftfreqs = fft_frequencies(sr=sr, n_fft=n_fft)  # (n_bins,)
    mel_f = mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)  # (n_mels + 2,)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)  # (n_mels + 2, n_bins)
    lower = -ramps[:-2] / fdiff[:-1, None]  # rising edge of each triangle
    upper = ramps[2:] / fdiff[1:, None]  # falling edge
    weights = np.maximum(0.0, np.minimum(lower, upper))  # (n_mels, n_bins)
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]  # equal area
    out = weights.astype(np.float32)
    out.setflags(write=False)
    return out


def mel_filterbank(*, sr: int, n_fft: int, mel: MelParams) -> np.ndarray:
    """Triangular mel filters, equal to ``librosa.filters.mel``; shape (n_mels, 1 + n_fft // 2).

    Filter i rises from edge i to peak i + 1 and falls to edge i + 2 of ``mel_edges``; with
    the Slaney norm each triangle is scaled to area-like height 2 / (upper - lower).
    Cached and read-only.
    """
    mel.check(sr)
    return _mel_filterbank(sr, n_fft, mel.n_mels, float(mel.fmin), mel.top(sr), mel.htk, mel.norm)


def mel_edges(*, sr: int, mel: MelParams) -> np.ndarray:
    """The n_mels + 2 edge frequencies in Hz of the filterbank triangles, shape (n_mels + 2,)."""
    mel.check(sr)
    return mel_frequencies(mel.n_mels + 2, fmin=mel.fmin, fmax=mel.top(sr), htk=mel.htk)


def mel_scale_curves(*, sr: int, n: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequencies 0..sr/2 (n,) and their mel values on the HTK and the Slaney scales."""
    f = np.linspace(0.0, sr / 2, n)
    return f, hz_to_mel(f, htk=True), hz_to_mel(f, htk=False)


def mel_band_ticks(*, sr: int, mel: MelParams, count: int = 8) -> tuple[list[int], list[str]]:
    """Band indices and their peak frequency as labels, for a mel image's vertical axis."""
    centres = mel_edges(sr=sr, mel=mel)[1:-1]  # (n_mels,) peak of each triangle
    idx = sorted({int(round(i)) for i in np.linspace(0, mel.n_mels - 1, min(count, mel.n_mels))})
    return idx, [f"{i}: {centres[i]:.0f} Hz" for i in idx]


def mel_spectrogram(
    y: np.ndarray,
    *,
    sr: int,
    stft: StftParams,
    mel: MelParams | None = None,
    power: float = 2.0,
    S: np.ndarray | None = None,
) -> np.ndarray:
    """Mel spectrogram, equal to ``librosa.feature.melspectrogram``.

    Parameters
    ----------
    y : np.ndarray
        Shape (n_samples,).
    sr : int
    stft : StftParams
    mel : MelParams, optional
    power : float
        1 for magnitude, 2 for power.
    S : np.ndarray, optional
        A precomputed complex STFT of ``y`` with the same ``stft`` parameters.

    Returns
    -------
    np.ndarray
        Shape (n_mels, n_frames): filterbank (n_mels, n_bins) @ |X|**power (n_bins, n_frames).
    """
    mel = mel or MelParams()
    if S is None:
        S = _stft_fn(y, stft)
    fb = mel_filterbank(sr=sr, n_fft=stft.n_fft, mel=mel)
    return fb @ (np.abs(S) ** power)


_stft_fn = stft  # the parameter of mel_spectrogram shadows the function name


def power_to_db(
    S: np.ndarray,
    *,
    ref: float | str = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
) -> np.ndarray:
    """Power to decibels, equal to ``librosa.power_to_db``.

    dB = 10 log10(max(amin, S)) - 10 log10(max(amin, ref)); then values more than ``top_db``
    below the loudest are raised to that floor. ``ref="max"`` makes the loudest cell 0 dB.
    Shape is kept.
    """
    if amin <= 0:
        raise UserInputError("amin must be strictly positive (it keeps log10 away from 0).")
    if top_db is not None and top_db < 0:
        raise UserInputError("top_db must be 0 or more.")
    S = np.asarray(S)
    ref_value = float(np.max(S)) if ref == "max" else float(ref)
    log_spec = 10.0 * np.log10(np.maximum(amin, S))
    log_spec -= 10.0 * np.log10(np.maximum(amin, ref_value))
    if top_db is not None:
        log_spec = np.maximum(log_spec, log_spec.max() - top_db)
    return log_spec


def mfcc(log_mel: np.ndarray, *, n_mfcc: int = 20) -> np.ndarray:
    """MFCCs from a log-mel spectrogram (dB), equal to ``librosa.feature.mfcc(S=log_mel)``.

    An orthonormal DCT-II along the mel axis, keeping the first ``n_mfcc`` rows.
    Shape (n_mels, n_frames) -> (n_mfcc, n_frames).
    """
    import scipy.fft

    if not 1 <= n_mfcc <= log_mel.shape[0]:
        raise UserInputError(
            f"n_mfcc must be between 1 and n_mels = {log_mel.shape[0]}; got {n_mfcc}."
        )
    return scipy.fft.dct(log_mel, axis=0, type=2, norm="ortho")[:n_mfcc]


# ----------------------------------------------------------------------------- listening


def griffin_lim(
    magnitude: np.ndarray, *, params: StftParams, length: int, n_iter: int = 32
) -> np.ndarray:
    """Audio whose STFT magnitude matches ``magnitude`` (phase guessed by Griffin-Lim).

    ``magnitude`` has shape (1 + n_fft // 2, n_frames); returns shape (length,), float32.
    Seeded, so the same input always sounds the same.
    """
    import librosa

    y = librosa.griffinlim(
        magnitude,
        n_iter=n_iter,
        hop_length=params.hop_length,
        win_length=params.win,
        n_fft=params.n_fft,
        window=_scipy_window_name(params.window),
        center=params.center,
        pad_mode=params.pad_mode,
        length=length,
        random_state=0,
    )
    return _safe_audio(y)


def mel_to_stft_magnitude(M: np.ndarray, *, sr: int, n_fft: int, mel: MelParams) -> np.ndarray:
    """Best non-negative guess of |X| from a power mel spectrogram (librosa's NNLS).

    Shape (n_mels, n_frames) -> (1 + n_fft // 2, n_frames).
    """
    import librosa

    return librosa.feature.inverse.mel_to_stft(
        M,
        sr=sr,
        n_fft=n_fft,
        power=2.0,
        fmin=mel.fmin,
        fmax=mel.top(sr),
        htk=mel.htk,
        norm=mel.norm,
    )


def griffin_lim_from_mel(
    M: np.ndarray,
    *,
    sr: int,
    params: StftParams,
    mel: MelParams,
    length: int,
    n_iter: int = 32,
) -> np.ndarray:
    """Audio rebuilt from a power mel spectrogram (n_mels, n_frames): shape (length,)."""
    mag = mel_to_stft_magnitude(M, sr=sr, n_fft=params.n_fft, mel=mel)
    return griffin_lim(mag, params=params, length=length, n_iter=n_iter)


def masked_audio(
    S: np.ndarray,
    *,
    params: StftParams,
    length: int,
    mask: np.ndarray,
) -> np.ndarray:
    """Inverse STFT of ``S * mask`` (keeps the true phase), shape (length,), float32.

    ``S`` is the complex STFT (n_bins, n_frames); ``mask`` broadcasts to it, e.g. shape
    (n_bins, 1) for one band or (n_bins, n_frames) for a time-frequency box.
    """
    import librosa

    y = librosa.istft(
        S * mask,
        hop_length=params.hop_length,
        win_length=params.win,
        n_fft=params.n_fft,
        window=_scipy_window_name(params.window),
        center=params.center,
        length=length,
    )
    return _safe_audio(y)


def mel_band_audio(
    S: np.ndarray, *, sr: int, params: StftParams, mel: MelParams, band: int, length: int
) -> np.ndarray:
    """What one mel filter lets through: the STFT weighted by triangle ``band``, shape (length,)."""
    fb = mel_filterbank(sr=sr, n_fft=params.n_fft, mel=mel)
    if not 0 <= band < fb.shape[0]:
        raise UserInputError(f"Band {band} does not exist: there are {fb.shape[0]} mel bands.")
    tri = fb[band] / max(float(fb[band].max()), 1e-12)  # (n_bins,), peak 1
    return masked_audio(S, params=params, length=length, mask=tri[:, None])


def box_audio(
    S: np.ndarray,
    *,
    sr: int,
    params: StftParams,
    length: int,
    t0: float,
    t1: float,
    f0: float,
    f1: float,
) -> np.ndarray:
    """Only the time-frequency box [t0, t1] s x [f0, f1] Hz of the clip, shape (length,)."""
    if t1 <= t0 or f1 <= f0:
        raise UserInputError("The selected region is empty: each end must be after its start.")
    times = frame_times(S.shape[1], sr=sr, params=params)
    freqs = fft_frequencies(sr=sr, n_fft=params.n_fft)
    mask = np.outer((freqs >= f0) & (freqs <= f1), (times >= t0) & (times <= t1))
    return masked_audio(S, params=params, length=length, mask=mask.astype(np.float32))


def rebuild_region(
    samples: np.ndarray,
    *,
    sr: int,
    params: StftParams,
    mel: MelParams,
    start_s: float,
    end_s: float,
    n_iter: int = 32,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A region of the clip, rebuilt from its |STFT| and from its mel spectrogram.

    Returns three arrays of shape (k,): the original region, Griffin-Lim from the STFT
    magnitude, and Griffin-Lim from the power mel spectrogram (so the listener hears what
    the phase, and then the mel pooling, throw away).
    """
    seg = region(samples, sr=sr, start_s=start_s, end_s=end_s)
    params.check(seg.shape[0])
    S = stft(seg, params)  # (n_bins, n_frames)
    from_stft = griffin_lim(np.abs(S), params=params, length=seg.shape[0], n_iter=n_iter)
    M = mel_spectrogram(seg, sr=sr, stft=params, mel=mel, S=S)  # (n_mels, n_frames)
    from_mel = griffin_lim_from_mel(
        M, sr=sr, params=params, mel=mel, length=seg.shape[0], n_iter=n_iter
    )
    return seg, from_stft, from_mel


def _scipy_window_name(name: str) -> str:
    return "boxcar" if name == "rectangular" else name


def _safe_audio(y: np.ndarray) -> np.ndarray:
    y = np.nan_to_num(np.asarray(y, dtype=np.float32))
    return y


# ----------------------------------------------------------------------------- CNN view


@dataclass(frozen=True)
class KernelCoverage:
    """What a k x k filter on the log-mel image sees, in milliseconds and hertz."""

    shape: tuple[int, int, int]  # (1, n_mels, n_frames)
    centre_span_ms: float  # from the first to the last frame centre under the filter
    support_ms: float  # every sample any of the frames touches
    band_low_hz: float  # lowest edge of the lowest mel band under the filter
    band_high_hz: float  # highest edge of the highest band
    centre_low_hz: float  # peak of the lowest band
    centre_high_hz: float  # peak of the highest band


def kernel_coverage(
    *,
    sr: int,
    n_samples: int,
    params: StftParams,
    mel: MelParams,
    band: int,
    kernel: int = 3,
) -> KernelCoverage:
    """Tensor shape (1, n_mels, n_frames) and what a ``kernel`` x ``kernel`` window covers.

    The window's lowest row is mel band ``band``. Along time, ``kernel`` frames are
    ``kernel - 1`` hops apart and each reaches over M = win_length samples.
    """
    params.check(n_samples)
    edges = mel_edges(sr=sr, mel=mel)  # (n_mels + 2,)
    if not 0 <= band <= mel.n_mels - kernel:
        raise UserInputError(
            f"A {kernel}x{kernel} filter starting at band {band} would leave the "
            f"{mel.n_mels} mel bands; choose a band from 0 to {mel.n_mels - kernel}."
        )
    hop_ms = 1000.0 * params.hop_length / sr
    return KernelCoverage(
        shape=(1, mel.n_mels, params.n_frames(n_samples)),
        centre_span_ms=(kernel - 1) * hop_ms,
        support_ms=1000.0 * ((kernel - 1) * params.hop_length + params.win) / sr,
        band_low_hz=float(edges[band]),
        band_high_hz=float(edges[band + kernel + 1]),
        centre_low_hz=float(edges[band + 1]),
        centre_high_hz=float(edges[band + kernel]),
    )
