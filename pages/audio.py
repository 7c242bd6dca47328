"""Audio explorer: a clip followed stage by stage to the log-mel image a CNN eats.

Thin page: widgets and layout here, every number from core.audio (librosa-equal numpy),
every figure from core.figures.audio. No torch is imported.
"""

import streamlit as st

from core import audio as A
from core.audio.clips import UPLOAD_TYPES
from core.errors import UserInputError
from core.figures import audio as F
from pages import _url as U
from pages._router import ensure_router
from pages._shared import chart, clip_notes, controls, count, init_state

ensure_router()

MAX_SECONDS = 30.0
GL_MAX_SECONDS = 10.0
STAGES = ["1 Waveform", "2 Framing", "3 Spectrogram", "4 Mel", "5 Hear it", "6 The CNN's view"]
N_FFTS = [128, 256, 512, 1024, 2048, 4096]
WINS = [64, 128, 160, 200, 256, 320, 400, 512, 800, 1024, 2048, 4096]
CLIP_KEY = {A.Clip: lambda c: c.digest}  # hash the clip by its digest, not its samples
HOPS = [16, 32, 64, 80, 128, 160, 200, 256, 320, 512, 1024]
ENVELOPE_POINTS = 1600  # min and max of 800 blocks: about one block per pixel column
MAX_COLUMNS = 800  # spectrogram columns drawn at most: about the plot width in pixels


# ----------------------------------------------------------------------------- cached work
# Results live in st.cache_resource: a rerun gets the very array back (read-only) instead of
# unpickling a copy, which matters for a 30 s spectrum of several megabytes. Clips are keyed
# by their digest and uploads by their file id, so no rerun hashes megabytes of samples.


def _frozen(a):
    a.setflags(write=False)
    return a


@st.cache_resource(max_entries=24, show_spinner=False)
def load_upload(file_id: str, name: str, sr: int, _data: bytes) -> A.Clip:
    clip = A.load_clip(_data, name=name, target_sr=sr, max_seconds=MAX_SECONDS)
    _frozen(clip.samples)
    return clip


@st.cache_resource(max_entries=24, show_spinner=False)
def load_example(filename: str, sr: int) -> A.Clip:
    clip = A.load_example(filename, target_sr=sr, max_seconds=MAX_SECONDS)
    _frozen(clip.samples)
    return clip


@st.cache_resource(max_entries=4, show_spinner=False, hash_funcs=CLIP_KEY)
def spectrum(clip: A.Clip, params: A.StftParams):
    return _frozen(A.stft(clip.samples, params))  # (n_bins, n_frames) complex


@st.cache_resource(max_entries=4, show_spinner=False, hash_funcs=CLIP_KEY)
def mel_power(clip: A.Clip, params: A.StftParams, mel: A.MelParams):
    M = A.mel_spectrogram(clip.samples, sr=clip.sr, stft=params, mel=mel, S=spectrum(clip, params))
    return _frozen(M)  # (n_mels, n_frames)


@st.cache_resource(max_entries=8, show_spinner=False, hash_funcs=CLIP_KEY)
def spec_image(clip, params, kind: str, ref: str, top_db: int, view, log_y: bool) -> A.ImageView:
    """The drawn cells of the spectrogram, computed once per display setting."""
    return A.spectrogram_view(
        spectrum(clip, params),
        sr=clip.sr,
        params=params,
        kind=kind,
        ref=ref,
        top_db=top_db,
        start_s=view[0],
        end_s=view[1],
        log_y=log_y,
        max_columns=MAX_COLUMNS,
    )


@st.cache_resource(max_entries=8, show_spinner=False, hash_funcs=CLIP_KEY)
def mel_image(clip, params, mel, which: str, n_mfcc: int, view) -> A.ImageView:
    """The drawn columns of log-mel (dB, ref = max), mel power or MFCC."""
    return A.mel_view(
        mel_power(clip, params, mel),
        sr=clip.sr,
        params=params,
        which=which,
        n_mfcc=n_mfcc,
        start_s=view[0],
        end_s=view[1],
        max_columns=MAX_COLUMNS,
    )


@st.cache_resource(max_entries=16, show_spinner=False, hash_funcs=CLIP_KEY)
def clip_wav(clip, t0: float | None = None, t1: float | None = None) -> bytes:
    if t0 is None:
        return A.wav_bytes(clip.samples, clip.sr)
    return A.wav_bytes(A.region(clip.samples, sr=clip.sr, start_s=t0, end_s=t1), clip.sr)


@st.cache_resource(
    max_entries=4, show_spinner="Rebuilding audio with Griffin-Lim…", hash_funcs=CLIP_KEY
)
def rebuilt(
    clip: A.Clip, params: A.StftParams, mel: A.MelParams, t0: float, t1: float, n_iter: int
):
    out = A.rebuild_region(
        clip.samples, sr=clip.sr, params=params, mel=mel, start_s=t0, end_s=t1, n_iter=n_iter
    )
    return tuple(A.wav_bytes(y, clip.sr) for y in out)


@st.cache_resource(max_entries=8, show_spinner=False, hash_funcs=CLIP_KEY)
def band_wav(clip, params, mel, band: int) -> bytes:
    S = spectrum(clip, params)
    y = A.mel_band_audio(S, sr=clip.sr, params=params, mel=mel, band=band, length=clip.n_samples)
    return A.wav_bytes(y, clip.sr)


@st.cache_resource(max_entries=8, show_spinner=False, hash_funcs=CLIP_KEY)
def box_wav(clip, params, view, fr) -> bytes:
    y = A.box_audio(
        spectrum(clip, params),
        sr=clip.sr,
        params=params,
        length=clip.n_samples,
        t0=view[0],
        t1=view[1],
        f0=fr[0],
        f1=fr[1],
    )
    return A.wav_bytes(y, clip.sr)


# ----------------------------------------------------------------------------- clip in

st.title("Audio: from waveform to log-mel")
st.markdown(
    "A CNN for sound usually does not read the waveform: it reads a **log-mel spectrogram**, "
    "an image with time across and pitch up. Follow one clip through every step, change every "
    "parameter, and listen to what each step keeps and throws away. Every array drawn here "
    "equals librosa's for the same parameters."
)


def _view_from_url(text: str) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in text.split("-"))
    except ValueError:
        raise ValueError("not a region like 0.5-1.25 (seconds)") from None
    if not (0 <= a < b <= MAX_SECONDS):
        raise ValueError(f"not a region inside 0-{MAX_SECONDS:g} s")
    return a, b


def url_settings() -> list[U.Setting]:
    """What this page's link carries: the example, every parameter, the stage, frame and region."""
    S = st.session_state
    return [
        U.choice("audio_sr", [8000, 16000, 22050, 44100], 16000),
        U.choice("audio_source", ["Example", "Upload", "Record"], "Example"),
        U.choice("audio_example", list(A.EXAMPLES), next(iter(A.EXAMPLES))),
        U.choice("audio_n_fft", N_FFTS, 512),
        U.choice("audio_win", WINS, 400),
        U.choice("audio_hop", HOPS, 160),
        U.choice("audio_window", list(A.WINDOWS), next(iter(A.WINDOWS))),
        U.flag("audio_center", True),
        U.integer("audio_n_mels", 8, 256, 64),
        U.number("audio_fmin", 0.0, 20000.0, 0.0),
        U.number("audio_fmax", 0.0, 96000.0, 0.0),
        U.choice("audio_mel_scale", ["Slaney", "HTK"], "Slaney"),
        U.choice("audio_mel_norm", ["slaney", "none"], "slaney"),
        U.Setting(
            "audio_view", _view_from_url, lambda v: f"{v[0]:g}-{v[1]:g}", None,
            get=lambda: S.get("audio_view"),
            put=lambda v: S.__setitem__("_audio_view_url", v),  # set once the clip is known
        ),
        U.integer("audio_frame", 0, 1_000_000, 0),
        U.choice("audio_stage", STAGES, STAGES[0], names={s: s.split()[0] for s in STAGES}),
    ]  # fmt: skip


# first values from the link settings' defaults, so no widget is given a value twice
init_state({"audio_sr": 16000, "audio_n_fft": 512, "audio_win": 400, "audio_hop": 160,
            "audio_center": True, "audio_n_mels": 64})  # fmt: skip
U.sync(url_settings)

with controls("Choose the clip and the analysis parameters"):
    c1, c2 = st.columns([3, 1])
    with c2:
        sr = st.selectbox(
            "Analysis rate (Hz)",
            [8000, 16000, 22050, 44100],
            persist_state="session",
            key="audio_sr",
            help="Every clip is resampled to this rate before analysis.",
        )
    with c1:
        source = st.radio(
            "Clip",
            ["Example", "Upload", "Record"],
            horizontal=True,
            persist_state="session",
            key="audio_source",
        )
        clip = None
        try:
            if source == "Example":
                name = st.selectbox(
                    "Example clip",
                    list(A.EXAMPLES),
                    format_func=lambda f: f"{f} — {A.EXAMPLES[f]}",
                    persist_state="session",
                    key="audio_example",
                )
                clip = load_example(name, sr)
            elif source == "Upload":
                up = st.file_uploader(
                    "Audio file (WAV, FLAC, OGG, MP3, M4A or WebM)",
                    type=UPLOAD_TYPES,
                    key="audio_upload",
                )
                if up is None:
                    st.info("Drop a file above; until then the last clip stays on screen.")
                else:
                    clip = load_upload(up.file_id, up.name, sr, up.getvalue())
            else:
                rec = st.audio_input("Record a clip", key="audio_record")
                if rec is None:
                    st.info("Press the microphone to record; until then the last clip stays.")
                else:
                    clip = load_upload(rec.file_id, "recording", sr, rec.getvalue())
        except UserInputError as e:
            st.error(str(e))

    if clip is not None:
        st.session_state["_audio_clip"] = clip
    clip = st.session_state.get("_audio_clip") or load_example("speech_en.ogg", sr)
    if clip.sr != sr:  # the rate changed while an old clip is on screen
        st.warning(f"Showing “{clip.name}” at {clip.sr} Hz until a clip is loaded at {sr} Hz.")
    clip_notes(clip.notes)

    dur = clip.duration
    st.markdown(
        f"**{clip.name}**: {dur:.3f} s × {clip.sr:,} samples per second = "
        f"**{clip.n_samples:,} samples** (the file held {count(clip.source_channels, 'channel')} at "
        f"{clip.source_sr:,} Hz)."
    )

    # ----------------------------------------------------------------------------- shared controls

    with st.container(border=True):
        st.markdown("**Analysis parameters** (shared by every stage)")
        p1, p2, p3, p4, p5 = st.columns(5)
        n_fft = p1.select_slider(
            "n_fft (DFT points N)", N_FFTS, persist_state="session", key="audio_n_fft"
        )
        win = p2.select_slider("window length M", WINS, persist_state="session", key="audio_win")
        hop = p3.select_slider("hop R", HOPS, persist_state="session", key="audio_hop")
        window = p4.selectbox(
            "window", list(A.WINDOWS), persist_state="session", key="audio_window"
        )
        center = p5.toggle(
            "centre frames",
            persist_state="session",
            key="audio_center",
            help="Pad n_fft/2 zeros at both ends so frame m is centred on sample m·R.",
        )
        m1, m2, m3, m4, m5 = st.columns(5)
        n_mels = m1.slider("n_mels", 8, 256, persist_state="session", key="audio_n_mels")
        fmin = m2.number_input(
            "fmin (Hz)", 0.0, 20000.0, 0.0, step=50.0, persist_state="session", key="audio_fmin"
        )
        fmax = m3.number_input(
            "fmax (Hz, 0 = half the rate)",
            0.0,
            96000.0,
            0.0,
            step=500.0,
            persist_state="session",
            key="audio_fmax",
        )
        scale = m4.radio(
            "mel scale",
            ["Slaney", "HTK"],
            horizontal=True,
            persist_state="session",
            key="audio_mel_scale",
        )
        norm = m5.radio(
            "filter norm",
            ["slaney", "none"],
            horizontal=True,
            persist_state="session",
            key="audio_mel_norm",
        )

params = A.StftParams(n_fft=n_fft, hop_length=hop, win_length=win, window=window, center=center)
mel = A.MelParams(
    n_mels=n_mels,
    fmin=fmin,
    fmax=None if fmax == 0 else fmax,
    htk=scale == "HTK",
    norm=None if norm == "none" else "slaney",
)
try:
    params.check(clip.n_samples)
    mel.check(clip.sr)
    st.session_state["_audio_params"] = (params, mel)
except UserInputError as e:
    st.error(str(e) + " Showing the last settings that worked.")
    params, mel = st.session_state.get("_audio_params", (A.StftParams(), A.MelParams()))
    if mel.top(clip.sr) > clip.sr / 2 or params.n_frames(clip.n_samples) < 1:
        params, mel = A.StftParams(), A.MelParams()

n_frames = params.n_frames(clip.n_samples)
st.caption(
    f"M = {params.win} samples = {1000 * params.win / clip.sr:.1f} ms · R = {params.hop_length} "
    f"samples = {1000 * params.hop_length / clip.sr:.1f} ms · overlap L = M − R = "
    f"{params.overlap} samples · {n_frames:,} frames · {params.n_fft // 2 + 1} frequency bins, "
    f"{clip.sr / params.n_fft:.2f} Hz apart."
)

linked = st.session_state.pop("_audio_view_url", None)
if linked is not None:  # a region from a link, fitted to the clip now known
    a, b = min(linked[0], dur), min(linked[1], dur)
    if a < b:
        st.session_state["audio_view"] = (round(a, 2), round(b, 2))
whole = (0.0, float(round(dur, 2)) or 0.01)
shown = st.session_state.get("audio_view")
if not (
    isinstance(shown, (tuple, list)) and len(shown) == 2 and 0 <= shown[0] < shown[1] <= whole[1]
):
    st.session_state["audio_view"] = whole  # the whole clip, also after a shorter clip
v1, v2 = st.columns([2, 1])
view = v1.slider(
    "View / region (s)",
    0.0,
    whole[1],
    step=0.01,
    persist_state="session",
    key="audio_view",
    help="Zooms the waveform and spectrograms; the region can be played.",
)
last = max(n_frames - 1, 0)
if st.session_state.get("audio_frame", 0) > last:  # fewer frames after a parameter change
    st.session_state["audio_frame"] = last
if last == 0:
    frame = 0
    v2.info(
        f"This clip is shorter than one hop ({params.hop_length} samples, "
        f"{1000 * params.hop_length / clip.sr:.0f} ms): it makes a single frame, so there is "
        "nothing to step through. Every stage below still shows that frame."
    )
else:
    frame = min(
        v2.slider("frame m (window position)", 0, last, persist_state="session", key="audio_frame"),
        last,
    )

stage = st.radio("Stage", STAGES, horizontal=True, persist_state="session", key="audio_stage")
fv = A.frame_at(clip.samples, sr=clip.sr, params=params, index=frame)
t_frame = (fv.start + params.n_fft // 2) / clip.sr  # the frame's centre in seconds


def step_frame(delta: int, last: int) -> None:
    """Button callback: move the frame slider by ``delta`` hops, within 0..last."""
    st.session_state["audio_frame"] = min(max(st.session_state["audio_frame"] + delta, 0), last)


def thin_note(step: int, rows: tuple[int, int] | None = None) -> None:
    parts = []
    if step > 1:
        parts.append(f"every {step}th of the {n_frames:,} frames in view")
    if rows is not None and rows[0] < rows[1]:
        parts.append(f"{rows[0]} of the {rows[1]} frequency rows")
    if parts:
        st.caption(
            "The figure has fewer pixels than cells, so it draws "
            + " and ".join(parts)
            + ": picked, not averaged, so every value shown is exact. Zoom the view to see all."
        )


# ----------------------------------------------------------------------------- stages

if stage == STAGES[0]:
    st.subheader("Waveform: amplitude against time")
    t, y, exact = A.envelope(
        clip.samples, sr=clip.sr, start_s=view[0], end_s=view[1], max_points=ENVELOPE_POINTS
    )
    chart(
        st,
        F.waveform_figure(t, y, exact=exact, frame_span=(fv.times[0], fv.times[-1])),
        key="audio_fig_wave",
    )
    shown = (
        "every sample"
        if exact
        else f"the min/max envelope of {ENVELOPE_POINTS // 2:,} blocks, about one per pixel "
        "column (zoom in to see the samples themselves)"
    )
    st.caption(f"Showing {shown}. Red band: frame {frame}.")
    a1, a2 = st.columns(2)
    a1.markdown("Whole clip")
    a1.audio(clip_wav(clip), format="audio/wav")
    a2.markdown(f"Region {view[0]:.2f}–{view[1]:.2f} s")
    try:
        a2.audio(clip_wav(clip, view[0], view[1]), format="audio/wav")
    except UserInputError as e:
        a2.error(str(e))

elif stage == STAGES[1]:
    st.subheader("Framing: slide a window, take a DFT")
    b1, b2, b3 = st.columns([1, 1, 4])
    b1.button(
        "◀ previous frame",
        key="audio_frame_prev",
        on_click=step_frame,
        args=(-1, last),
        disabled=frame <= 0,
        width="stretch",
    )
    b2.button(
        "next frame ▶",
        key="audio_frame_next",
        on_click=step_frame,
        args=(1, last),
        disabled=frame >= last,
        width="stretch",
    )
    b3.caption(
        f"Each step moves the window by one hop, R = {params.hop_length} samples = "
        f"{1000 * params.hop_length / clip.sr:.1f} ms (or drag the frame slider above)."
    )
    where = (
        f"{fv.start / clip.sr:.3f} s"
        if fv.start >= 0
        else f"inside the zero padding, {-fv.start} samples before the clip"
    )
    st.markdown(
        f"Frame {frame} starts at sample {fv.start:,} ({where}) and is centred on "
        f"t = {t_frame:.3f} s. "
        f"Its M = {params.win} samples are multiplied by the {params.window} window "
        f"(zero-padded to N = {params.n_fft}), then the DFT gives one column of the spectrogram:"
    )
    st.latex(
        r"X(m, k) = \sum_{n=0}^{N-1} x(n + mR)\, w(n)\, e^{-i 2 \pi k n / N},"
        r"\qquad f_k = k \cdot \frac{f_s}{N}"
    )
    chart(
        st,
        F.frame_figure(
            times=fv.times,
            raw=fv.raw,
            window=fv.window,
            windowed=fv.windowed,
            freqs=fv.freqs,
            magnitude=fv.magnitude,
        ),
        key="audio_fig_frame",
    )
    peak = int(fv.magnitude.argmax())
    st.metric("Strongest bin in this frame", f"k = {peak} → {fv.freqs[peak]:.1f} Hz")

elif stage == STAGES[2]:
    st.subheader("Spectrogram: all frames side by side")
    s1, s2, s3, s4 = st.columns(4)
    kind = s1.radio(
        "values", ["db", "magnitude", "power"], persist_state="session", key="audio_spec_kind"
    )
    ref = s2.radio("dB reference", ["max", "1.0"], persist_state="session", key="audio_spec_ref")
    top_db = s3.slider(
        "top_db (dB below the peak kept)", 10, 120, 80, persist_state="session", key="audio_top_db"
    )
    log_y = s4.toggle(
        "log frequency axis", value=False, persist_state="session", key="audio_log_freq"
    )
    st.markdown(
        "dB = 10·log10(max(amin, |X|²)) − 10·log10(ref), with amin = 1e-10 keeping log10 away "
        "from zero; anything more than top_db below the loudest cell is raised to that floor. "
        "ref = max puts the loudest cell at 0 dB."
    )
    im = spec_image(clip, params, kind, ref, top_db, view, log_y)
    Z, tz, fz, step, n_rows = im.z, im.times, im.freqs, im.column_step, im.n_rows
    chart(
        st,
        F.spectrogram_figure(
            Z,
            times=tz,
            y=fz,
            y_title="frequency (Hz)",
            colorbar_title={"db": "dB", "magnitude": "|X|", "power": "|X|²"}[kind],
            log_y=log_y,
            highlight_time=t_frame,
        ),
        key="audio_fig_spec",
    )
    thin_note(step, (Z.shape[0], n_rows))
    st.caption(
        f"Shape {params.n_fft // 2 + 1} bins × {n_frames:,} frames; cyan line: frame {frame}."
    )

elif stage == STAGES[3]:
    st.subheader("Mel: bend the frequency axis toward hearing")
    st.markdown(
        "Equal steps in mel sound like equal steps in pitch. HTK: m = 2595·log10(1 + f/700). "
        "Slaney (librosa's default): linear below 1 kHz, logarithmic above."
    )
    f, htk_m, sl_m = A.mel_scale_curves(sr=clip.sr)
    g1, g2 = st.columns(2)
    chart(g1, F.mel_scale_figure(f, htk_m, sl_m), key="audio_fig_melscale")
    band = g2.slider(
        "highlight band",
        0,
        mel.n_mels - 1,
        mel.n_mels // 4,
        persist_state="session",
        key="audio_band",
    )
    fb = A.mel_filterbank(sr=clip.sr, n_fft=params.n_fft, mel=mel)
    chart(g2, F.filterbank_figure(fb, fv.freqs, highlight=band), key="audio_fig_fb")
    st.markdown(
        f"Mel spectrogram = filterbank ({fb.shape[0]}×{fb.shape[1]}) @ |X|² "
        f"({fb.shape[1]}×{n_frames:,})"
    )
    which = st.radio(
        "show",
        ["log-mel (dB)", "mel power", "MFCC"],
        horizontal=True,
        persist_state="session",
        key="audio_mel_view",
    )
    n_mfcc = 0
    if which == "MFCC":
        n_mfcc = st.slider(
            "n_mfcc",
            2,
            min(40, mel.n_mels),
            min(13, mel.n_mels),
            persist_state="session",
            key="audio_n_mfcc",
        )
        st.caption("MFCC: an orthonormal DCT-II of each log-mel column, first n_mfcc rows kept.")
    im = mel_image(clip, params, mel, which, n_mfcc, view)
    Z, tz, step = im.z, im.times, im.column_step
    if which == "MFCC":
        y, title, bar, yt = list(range(n_mfcc)), "coefficient", "MFCC", None
    else:
        ticks = A.mel_band_ticks(sr=clip.sr, mel=mel)
        y, title, yt = list(range(mel.n_mels)), "mel band", ticks
        bar = "power" if which == "mel power" else "dB"
    chart(
        st,
        F.spectrogram_figure(
            Z,
            times=tz,
            y=y,
            y_title=title,
            colorbar_title=bar,
            highlight_time=t_frame,
            y_ticks=yt,
        ),
        key="audio_fig_mel",
    )
    thin_note(step)

elif stage == STAGES[4]:
    st.subheader("Hear it: what survives each step")
    h1, h2 = st.columns(2)
    n_iter = h1.slider(
        "Griffin-Lim iterations", 4, 64, 32, persist_state="session", key="audio_gl_iter"
    )
    t0, t1 = view[0], min(view[1], view[0] + GL_MAX_SECONDS)
    h2.caption(
        f"Rebuilding {t0:.2f}–{t1:.2f} s (at most {GL_MAX_SECONDS:g} s; set it with the region "
        "slider). The magnitude keeps no phase: Griffin-Lim guesses one."
    )
    try:
        seg, from_stft, from_mel = rebuilt(clip, params, mel, t0, t1, n_iter)
        r1, r2, r3 = st.columns(3)
        r1.markdown("Original region")
        r1.audio(seg, format="audio/wav")
        r2.markdown("From |STFT| (Griffin-Lim)")
        r2.audio(from_stft, format="audio/wav")
        r3.markdown(f"From the {mel.n_mels}-band mel spectrogram")
        r3.audio(from_mel, format="audio/wav")
    except UserInputError as e:
        st.error(str(e))
    st.markdown("**One mel band** (the STFT weighted by one triangle, true phase kept)")
    band = st.slider(
        "band", 0, mel.n_mels - 1, mel.n_mels // 4, persist_state="session", key="audio_play_band"
    )
    lo, hi = A.mel_edges(sr=clip.sr, mel=mel)[[band, band + 2]]
    st.caption(f"Band {band} spans {lo:.0f}–{hi:.0f} Hz.")
    st.audio(band_wav(clip, params, mel, band), format="audio/wav")
    st.markdown("**A time-frequency box** (the view region × this frequency range)")
    fr = st.slider(
        "frequency range (Hz)",
        0,
        clip.sr // 2,
        (0, min(1000, clip.sr // 2)),
        step=50,
        persist_state="session",
        key="audio_box_f",
    )
    try:
        st.audio(box_wav(clip, params, view, fr), format="audio/wav")
    except UserInputError as e:
        st.error(str(e))

else:
    st.subheader("The CNN's view: one channel, n_mels rows, one column per frame")
    band = st.slider(
        "lowest band under the 3×3 filter",
        0,
        mel.n_mels - 3,
        mel.n_mels // 4,
        persist_state="session",
        key="audio_cnn_band",
    )
    cov = A.kernel_coverage(sr=clip.sr, n_samples=clip.n_samples, params=params, mel=mel, band=band)
    k1, k2, k3 = st.columns(3)
    k1.metric("input tensor (C, H, W)", str(cov.shape))
    k2.metric("3×3 filter spans in time", f"{cov.support_ms:.1f} ms")
    k3.metric("3×3 filter spans in frequency", f"{cov.band_low_hz:.0f}–{cov.band_high_hz:.0f} Hz")
    st.markdown(
        f"Three columns are three frames, 2·R = {cov.centre_span_ms:.1f} ms from first to last "
        f"centre; with each frame M = {params.win} samples wide, the samples they read cover "
        f"{cov.support_ms:.1f} ms. Three rows are mel bands {band}–{band + 2}, peaking at "
        f"{cov.centre_low_hz:.0f}–{cov.centre_high_hz:.0f} Hz; their triangles reach from "
        f"{cov.band_low_hz:.0f} to {cov.band_high_hz:.0f} Hz. The same 3×3 filter covers a "
        "few tens of hertz low down and kilohertz high up: the mel axis is not uniform in Hz."
    )
    im = mel_image(clip, params, mel, "log-mel (dB)", 0, view)
    Z, tz, step = im.z, im.times, im.column_step
    hop_s = params.hop_length / clip.sr
    chart(
        st,
        F.spectrogram_figure(
            Z,
            times=tz,
            y=list(range(mel.n_mels)),
            y_title="mel band",
            colorbar_title="dB",
            box=(t_frame - 0.5 * hop_s, t_frame + 2.5 * hop_s, band - 0.5, band + 2.5),
            y_ticks=A.mel_band_ticks(sr=clip.sr, mel=mel),
        ),
        key="audio_fig_cnn",
    )
    thin_note(step)
