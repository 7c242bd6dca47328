"""Audio benchmarks: page update time and batched torch features against a librosa loop.

Run from the repository root: .venv/bin/python bench/bench_audio.py

1. A 30 s, 16 kHz clip is uploaded to pages/audio.py (AppTest, server side only); then the
   hop is changed back and forth and each rerun is timed, per stage. Target: median <= 200 ms.
2. 1,000 one-second 16 kHz clips to log-mel: core.features.LogMel on one (N, T) batch
   against librosa.feature.melspectrogram + power_to_db clip by clip. Target: >= 5x.
"""

import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def page_update() -> None:
    from streamlit.testing.v1 import AppTest

    rng = np.random.default_rng(0)
    t = np.arange(30 * 16000) / 16000
    y = 0.3 * np.sin(2 * np.pi * 300 * t * (1 + t / 30)) + 0.05 * rng.standard_normal(t.size)
    buf = io.BytesIO()
    sf.write(buf, y.astype(np.float32), 16000, format="WAV", subtype="PCM_16")
    at = AppTest.from_file(str(ROOT / "pages" / "audio.py"), default_timeout=120)
    at.run()
    at.radio(key="audio_source").set_value("Upload").run()
    at.file_uploader(key="audio_upload").set_value(("long.wav", buf.getvalue(), "audio/wav"))
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    print(f"30 s clip, {16000 * 30:,} samples; page rerun after changing the hop (ms):")
    for stage in ["1 Waveform", "2 Framing", "3 Spectrogram", "4 Mel", "6 The CNN's view"]:
        at.radio(key="audio_stage").set_value(stage).run()
        times = []
        for i in range(8):
            at.select_slider(key="audio_hop").set_value([160, 128][i % 2])
            start = time.perf_counter()
            at.run()
            times.append(1000 * (time.perf_counter() - start))
        assert not at.exception
        # the first two runs compute each hop; later ones hit the cache
        print(
            f"  {stage:18s} first (new hop) {times[0]:6.0f}   median {statistics.median(times):6.0f}"
        )


def features() -> None:
    import librosa
    import torch

    from core.features import FeatureSettings, LogMel

    rng = np.random.default_rng(1)
    clips = rng.uniform(-0.5, 0.5, (1000, 16000)).astype(np.float32)  # (N, T)
    s = FeatureSettings(sample_rate=16000, n_fft=512, hop_length=160, n_mels=64)
    module = LogMel(s)
    with torch.no_grad():
        module(torch.from_numpy(clips[:8]))  # warm-up
        start = time.perf_counter()
        out = module(torch.from_numpy(clips))  # (1000, 1, 64, 101)
        t_torch = time.perf_counter() - start
    start = time.perf_counter()
    ref = [
        librosa.power_to_db(
            librosa.feature.melspectrogram(y=c, sr=16000, n_fft=512, hop_length=160, n_mels=64)
        )
        for c in clips
    ]
    t_lib = time.perf_counter() - start
    err = float(np.max(np.abs(out[:, 0].numpy() - np.stack(ref))))
    print(f"1,000 x 1 s clips -> {tuple(out.shape)}, torch threads {torch.get_num_threads()}")
    print(f"  batched LogMel (torch): {t_torch * 1000:7.0f} ms")
    print(f"  librosa loop          : {t_lib * 1000:7.0f} ms")
    print(f"  ratio librosa / torch : {t_lib / t_torch:7.1f}x   (max |dB difference| {err:.4f})")


if __name__ == "__main__":
    page_update()
    features()
