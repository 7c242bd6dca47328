"""Audio explorer: a clip followed stage by stage to the log-mel image a CNN eats.

Thin page: widgets and layout here, every number from core.audio (librosa-equal numpy),
every figure from core.figures.audio. No torch is imported.
"""

import streamlit as st

from core import audio as A
from core.errors import UserInputError
from core.figures import audio as F
from pages._router import ensure_router

ensure_router()

MAX_SECONDS = 30.0
GL_MAX_SECONDS = 10.0
STAGES = ["1 Waveform", "2 Framing", "3 Spectrogram", "4 Mel", "5 Hear it", "6 The CNN's view"]
N_FFTS = [128, 256, 512, 1024, 2048, 4096]
WINS = [64, 128, 160, 200, 256, 320, 400, 512, 800, 1024, 2048, 4096]
CLIP_KEY = {A.Clip: lambda c: c.digest}  # hash the clip by its digest, not its samples
HOPS = [16, 32, 64, 80, 128, 160, 200, 256, 320, 512, 1024]


# ----------------------------------------------------------------------------- cached work


@st.cache_data(max_entries=24, show_spinner=False)
def load_bytes(data: bytes, name: str, sr: int) -> A.Clip:
    return A.load_clip(data, name=name, target_sr=sr, max_seconds=MAX_SECONDS)


@st.cache_data(max_entries=24, show_spinner=False)
def load_example(filename: str, sr: int) -> A.Clip:
    return A.load_example(filename, target_sr=sr, max_seconds=MAX_SECONDS)


@st.cache_data(max_entries=8, show_spinner=False, hash_funcs=CLIP_KEY)
def spectrum(clip: A.Clip, params: A.StftParams):
    return A.stft(clip.samples, params)


@st.cache_data(max_entries=8, show_spinner=False, hash_funcs=CLIP_KEY)
def mel_power(clip: A.Clip, params: A.StftParams, mel: A.MelParams):
    return A.mel_spectrogram(
        clip.samples, sr=clip.sr, stft=params, mel=mel, S=spectrum(clip, params)
    )


@st.cache_data(
    max_entries=4, show_spinner="Rebuilding audio with Griffin-Lim…", hash_funcs=CLIP_KEY
)
def rebuilt(
    clip: A.Clip, params: A.StftParams, mel: A.MelParams, t0: float, t1: float, n_iter: int
):
    return A.rebuild_region(
        clip.samples, sr=clip.sr, params=params, mel=mel, start_s=t0, end_s=t1, n_iter=n_iter
    )


# ----------------------------------------------------------------------------- clip in

st.title("Audio: from waveform to log-mel")
st.markdown(
    "A CNN for sound usually does not read the waveform: it reads a **log-mel spectrogram**, "
    "an image with time across and pitch up. Follow one clip through every step, change every "
    "parameter, and listen to what each step keeps and throws away. Every array drawn here "
    "equals librosa's for the same parameters."
)

c1, c2 = st.columns([3, 1])
with c2:
    sr = st.selectbox(
        "Analysis rate (Hz)",
        [8000, 16000, 22050, 44100],
        index=1,
        key="audio_sr",
        help="Every clip is resampled to this rate before analysis.",
    )
with c1:
    source = st.radio("Clip", ["Example", "Upload", "Record"], horizontal=True, key="audio_source")
    clip = None
    try:
        if source == "Example":
            name = st.selectbox(
                "Example clip",
                list(A.EXAMPLES),
                format_func=lambda f: f"{f} — {A.EXAMPLES[f]}",
                key="audio_example",
            )
            clip = load_example(name, sr)
        elif source == "Upload":
            up = st.file_uploader(
                "Audio file (WAV, FLAC, OGG or MP3)",
                type=["wav", "flac", "ogg", "oga", "mp3"],
                key="audio_upload",
            )
            if up is None:
                st.info("Drop a file above; until then the last clip stays on screen.")
            else:
                clip = load_bytes(up.getvalue(), up.name, sr)
        else:
            rec = st.audio_input("Record a clip", key="audio_record")
            if rec is None:
                st.info("Press the microphone to record; until then the last clip stays.")
            else:
                clip = load_bytes(rec.getvalue(), "recording", sr)
    except UserInputError as e:
        st.error(str(e))

if clip is not None:
    st.session_state["_audio_clip"] = clip
clip = st.session_state.get("_audio_clip") or load_example("speech_en.ogg", sr)
if clip.sr != sr:  # the rate changed while an old clip is on screen
    st.warning(f"Showing “{clip.name}” at {clip.sr} Hz until a clip is loaded at {sr} Hz.")
for note in clip.notes:
    st.info(note)

dur = clip.duration
st.markdown(
    f"**{clip.name}**: {dur:.3f} s × {clip.sr:,} samples per second = "
    f"**{clip.n_samples:,} samples** (the file held {clip.source_channels} channel(s) at "
    f"{clip.source_sr:,} Hz)."
)

# ----------------------------------------------------------------------------- shared controls

with st.container(border=True):
    st.markdown("**Analysis parameters** (shared by every stage)")
    p1, p2, p3, p4, p5 = st.columns(5)
    n_fft = p1.select_slider("n_fft (DFT points N)", N_FFTS, value=512, key="audio_n_fft")
    win = p2.select_slider("window length M", WINS, value=400, key="audio_win")
    hop = p3.select_slider("hop R", HOPS, value=160, key="audio_hop")
    window = p4.selectbox("window", list(A.WINDOWS), key="audio_window")
    center = p5.toggle(
        "centre frames",
        value=True,
        key="audio_center",
        help="Pad n_fft/2 zeros at both ends so frame m is centred on sample m·R.",
    )
    m1, m2, m3, m4, m5 = st.columns(5)
    n_mels = m1.slider("n_mels", 8, 256, 64, key="audio_n_mels")
    fmin = m2.number_input("fmin (Hz)", 0.0, 20000.0, 0.0, step=50.0, key="audio_fmin")
    fmax = m3.number_input(
        "fmax (Hz, 0 = half the rate)", 0.0, 96000.0, 0.0, step=500.0, key="audio_fmax"
    )
    scale = m4.radio("mel scale", ["Slaney", "HTK"], horizontal=True, key="audio_mel_scale")
    norm = m5.radio("filter norm", ["slaney", "none"], horizontal=True, key="audio_mel_norm")

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

v1, v2 = st.columns([2, 1])
view = v1.slider(
    "View / region (s)",
    0.0,
    float(round(dur, 2)) or 0.01,
    (0.0, float(round(dur, 2)) or 0.01),
    step=0.01,
    key="audio_view",
    help="Zooms the waveform and spectrograms; the region can be played.",
)
frame = v2.slider("frame m (window position)", 0, max(n_frames - 1, 0), 0, key="audio_frame")
frame = min(frame, n_frames - 1)

stage = st.radio("Stage", STAGES, horizontal=True, key="audio_stage")
S = spectrum(clip, params)  # (n_bins, n_frames) complex
times = A.frame_times(n_frames, sr=clip.sr, params=params)
fv = A.frame_at(clip.samples, sr=clip.sr, params=params, index=frame)
cols, step = A.display_columns(times, start_s=view[0], end_s=view[1])


def thin_note() -> None:
    if step > 1:
        st.caption(f"Drawing every {step}th frame of {n_frames:,} (all values are exact).")


# ----------------------------------------------------------------------------- stages

if stage == STAGES[0]:
    st.subheader("Waveform: amplitude against time")
    t, y, exact = A.envelope(clip.samples, sr=clip.sr, start_s=view[0], end_s=view[1])
    st.plotly_chart(
        F.waveform_figure(t, y, exact=exact, frame_span=(fv.times[0], fv.times[-1])),
        key="audio_fig_wave",
    )
    shown = "every sample" if exact else "the min/max envelope (zoom in to see samples)"
    st.caption(f"Showing {shown}. Red band: frame {frame}.")
    a1, a2 = st.columns(2)
    a1.markdown("Whole clip")
    a1.audio(clip.samples, sample_rate=clip.sr)
    a2.markdown(f"Region {view[0]:.2f}–{view[1]:.2f} s")
    try:
        a2.audio(
            A.region(clip.samples, sr=clip.sr, start_s=view[0], end_s=view[1]), sample_rate=clip.sr
        )
    except UserInputError as e:
        a2.error(str(e))

elif stage == STAGES[1]:
    st.subheader("Framing: slide a window, take a DFT")
    st.markdown(
        f"Frame {frame} starts at sample {fv.start:,} "
        f"({'inside the zero padding' if fv.start < 0 else f'{fv.start / clip.sr:.3f} s'}). "
        f"Its M = {params.win} samples are multiplied by the {params.window} window "
        f"(zero-padded to N = {params.n_fft}), then the DFT gives one column of the spectrogram:"
    )
    st.latex(
        r"X(m, k) = \sum_{n=0}^{N-1} x(n + mR)\, w(n)\, e^{-i 2 \pi k n / N},"
        r"\qquad f_k = k \cdot \frac{f_s}{N}"
    )
    st.plotly_chart(
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
    st.caption("Move the frame slider above to step the window along the clip.")

elif stage == STAGES[2]:
    st.subheader("Spectrogram: all frames side by side")
    s1, s2, s3, s4 = st.columns(4)
    kind = s1.radio("values", ["db", "magnitude", "power"], key="audio_spec_kind")
    ref = s2.radio("dB reference", ["max", "1.0"], key="audio_spec_ref")
    top_db = s3.slider("top_db (dB below the peak kept)", 10, 120, 80, key="audio_top_db")
    log_y = s4.toggle("log frequency axis", value=False, key="audio_log_freq")
    st.markdown(
        "dB = 10·log10(max(amin, |X|²)) − 10·log10(ref), with amin = 1e-10 keeping log10 away "
        "from zero; anything more than top_db below the loudest cell is raised to that floor. "
        "ref = max puts the loudest cell at 0 dB."
    )
    Z = A.scale_spectrogram(S, kind=kind, ref="max" if ref == "max" else 1.0, top_db=top_db)
    freqs = fv.freqs
    rows = slice(1, None) if log_y else slice(None)
    st.plotly_chart(
        F.spectrogram_figure(
            Z[rows][:, cols],
            times=times[cols],
            y=freqs[rows],
            y_title="frequency (Hz)",
            colorbar_title={"db": "dB", "magnitude": "|X|", "power": "|X|²"}[kind],
            log_y=log_y,
            highlight_time=float(times[frame]),
        ),
        key="audio_fig_spec",
    )
    thin_note()
    st.caption(f"Shape {S.shape[0]} bins × {S.shape[1]:,} frames; cyan line: frame {frame}.")

elif stage == STAGES[3]:
    st.subheader("Mel: bend the frequency axis toward hearing")
    st.markdown(
        "Equal steps in mel sound like equal steps in pitch. HTK: m = 2595·log10(1 + f/700). "
        "Slaney (librosa's default): linear below 1 kHz, logarithmic above."
    )
    f, htk_m, sl_m = A.mel_scale_curves(sr=clip.sr)
    g1, g2 = st.columns(2)
    g1.plotly_chart(F.mel_scale_figure(f, htk_m, sl_m), key="audio_fig_melscale")
    band = g2.slider("highlight band", 0, mel.n_mels - 1, mel.n_mels // 4, key="audio_band")
    fb = A.mel_filterbank(sr=clip.sr, n_fft=params.n_fft, mel=mel)
    g2.plotly_chart(F.filterbank_figure(fb, fv.freqs, highlight=band), key="audio_fig_fb")
    M = mel_power(clip, params, mel)
    D = A.power_to_db(M, ref="max")
    ticks = A.mel_band_ticks(sr=clip.sr, mel=mel)
    st.markdown(
        f"Mel spectrogram = filterbank ({fb.shape[0]}×{fb.shape[1]}) @ |X|² ({S.shape[0]}×{S.shape[1]:,})"
    )
    which = st.radio(
        "show", ["log-mel (dB)", "mel power", "MFCC"], horizontal=True, key="audio_mel_view"
    )
    if which == "MFCC":
        n_mfcc = st.slider(
            "n_mfcc", 2, min(40, mel.n_mels), min(13, mel.n_mels), key="audio_n_mfcc"
        )
        C = A.mfcc(D, n_mfcc=n_mfcc)
        st.caption("MFCC: an orthonormal DCT-II of each log-mel column, first n_mfcc rows kept.")
        Z, y, title, bar, yt = C, list(range(n_mfcc)), "coefficient", "MFCC", None
    elif which == "mel power":
        Z, y, title, bar, yt = M, list(range(mel.n_mels)), "mel band", "power", ticks
    else:
        Z, y, title, bar, yt = D, list(range(mel.n_mels)), "mel band", "dB", ticks
    st.plotly_chart(
        F.spectrogram_figure(
            Z[:, cols],
            times=times[cols],
            y=y,
            y_title=title,
            colorbar_title=bar,
            highlight_time=float(times[frame]),
            y_ticks=yt,
        ),
        key="audio_fig_mel",
    )
    thin_note()

elif stage == STAGES[4]:
    st.subheader("Hear it: what survives each step")
    h1, h2 = st.columns(2)
    n_iter = h1.slider("Griffin-Lim iterations", 4, 64, 32, key="audio_gl_iter")
    t0, t1 = view[0], min(view[1], view[0] + GL_MAX_SECONDS)
    h2.caption(
        f"Rebuilding {t0:.2f}–{t1:.2f} s (at most {GL_MAX_SECONDS:g} s; set it with the region "
        "slider). The magnitude keeps no phase: Griffin-Lim guesses one."
    )
    try:
        seg, from_stft, from_mel = rebuilt(clip, params, mel, t0, t1, n_iter)
        r1, r2, r3 = st.columns(3)
        r1.markdown("Original region")
        r1.audio(seg, sample_rate=clip.sr)
        r2.markdown("From |STFT| (Griffin-Lim)")
        r2.audio(from_stft, sample_rate=clip.sr)
        r3.markdown(f"From the {mel.n_mels}-band mel spectrogram")
        r3.audio(from_mel, sample_rate=clip.sr)
    except UserInputError as e:
        st.error(str(e))
    st.markdown("**One mel band** (the STFT weighted by one triangle, true phase kept)")
    band = st.slider("band", 0, mel.n_mels - 1, mel.n_mels // 4, key="audio_play_band")
    lo, hi = A.mel_edges(sr=clip.sr, mel=mel)[[band, band + 2]]
    st.caption(f"Band {band} spans {lo:.0f}–{hi:.0f} Hz.")
    st.audio(
        A.mel_band_audio(S, sr=clip.sr, params=params, mel=mel, band=band, length=clip.n_samples),
        sample_rate=clip.sr,
    )
    st.markdown("**A time-frequency box** (the view region × this frequency range)")
    fr = st.slider(
        "frequency range (Hz)",
        0,
        clip.sr // 2,
        (0, min(1000, clip.sr // 2)),
        step=50,
        key="audio_box_f",
    )
    try:
        st.audio(
            A.box_audio(
                S,
                sr=clip.sr,
                params=params,
                length=clip.n_samples,
                t0=view[0],
                t1=view[1],
                f0=fr[0],
                f1=fr[1],
            ),
            sample_rate=clip.sr,
        )
    except UserInputError as e:
        st.error(str(e))

else:
    st.subheader("The CNN's view: one channel, n_mels rows, one column per frame")
    band = st.slider(
        "lowest band under the 3×3 filter", 0, mel.n_mels - 3, mel.n_mels // 4, key="audio_cnn_band"
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
    D = A.power_to_db(mel_power(clip, params, mel), ref="max")
    tc = float(times[frame])
    hop_s = params.hop_length / clip.sr
    st.plotly_chart(
        F.spectrogram_figure(
            D[:, cols],
            times=times[cols],
            y=list(range(mel.n_mels)),
            y_title="mel band",
            colorbar_title="dB",
            box=(tc - 0.5 * hop_s, tc + 2.5 * hop_s, band - 0.5, band + 2.5),
            y_ticks=A.mel_band_ticks(sr=clip.sr, mel=mel),
        ),
        key="audio_fig_cnn",
    )
    thin_note()
