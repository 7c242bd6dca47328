"""How long "Ask your model" takes over a 10-minute clip, window by window.

The default audio models (``core.learn.train.DEFAULT_MODELS``: commands -> speech_cnn on 2 s
log-mels, instruments -> timbre_cnn on 1 s log-mels) are planned as the Train page plans
them (``core.learn.task.plan_preset``), so the preprocessing is the app's; the weights are
left untrained (seeded), since the time does not depend on them. A synthetic 10-minute clip
(a sweeping tone in noise) at 16 kHz is

1. decoded from a 16 kHz mono WAV (19 MB) by ``core.audio.load_clip``, with the limit
   ``core.learn.classify.clip_limit`` gives it, as the page does, and from a 44.1 kHz mono
   FLAC (decoded and resampled to 16 kHz);
2. scored by ``core.learn.classify.classify_clip``: windows half a window apart, cut,
   turned into log-mels and run through the model 64 at a time.

Each figure is the median of ``--repeats`` runs on the CPU (``--threads`` torch threads,
default torch's own choice; on a busy 2-core machine one thread can be several times faster
than two, which wait on each other); how far scoring raises the process's resident
memory is printed beside it, in batches (the same whatever the clip's length) and, for
comparison, with every window and its features made at once (which grows with the clip).
The last line is the headline: decoding and scoring 10 minutes of 16 kHz audio with the
commands default model, as the page does it.

Run: python bench/bench_long_clip.py [--minutes 10] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import ctypes
import io
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import audio  # noqa: E402
from core.data import shipped as data  # noqa: E402
from core.learn import classify  # noqa: E402
from core.learn import task as tasks  # noqa: E402
from core.learn.build import build_model  # noqa: E402


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024  # kB -> MB


def peak_growth(fn) -> float:
    """How far ``fn()`` raises the resident memory above where it was, in MB (Linux: the
    peak is reset through /proc/self/clear_refs and read back as VmHWM; memory freed
    earlier is first given back to the system, so that ``fn`` cannot hide in it)."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_mb("VmRSS")
    fn()
    return _status_mb("VmHWM") - before


def default_model(name: str):
    """The dataset's default preset as the app plans it, untrained: (model, task, preset)."""
    ds = data.load(name)
    preset = tasks.default_preset(ds)
    inputs = tasks.inputs_for(ds, tasks.reads_for_preset(ds, preset))
    plan = tasks.plan_preset(ds, inputs, preset)
    torch.manual_seed(0)
    model = build_model(plan.spec, plan.task.input_shape, logits=True).eval()
    return model, plan.task, preset


def synthetic_clip(seconds: float, sr: int) -> np.ndarray:
    """A tone sweeping up and down every 7 s, in light noise: (seconds * sr,) float32."""
    t = np.arange(int(seconds * sr)) / sr
    f = 300 + 200 * np.sin(2 * np.pi * t / 7)
    phase = 2 * np.pi * np.cumsum(f) / sr
    noise = np.random.default_rng(0).standard_normal(len(t))
    return (0.3 * np.sin(phase) + 0.02 * noise).astype(np.float32)


def encoded(samples: np.ndarray, sr: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format=fmt)
    return buf.getvalue()


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def decode(data_bytes: bytes, name: str):
    limit = classify.clip_limit(data_bytes)
    return audio.load_clip(data_bytes, name=name, target_sr=16000, max_seconds=limit.seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    seconds = args.minutes * 60
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__} with {torch.get_num_threads()} "
          f"threads; load {' '.join(f'{v:.1f}' for v in os.getloadavg())}")  # fmt: skip

    clip16 = synthetic_clip(seconds, 16000)
    wav16 = encoded(clip16, 16000, "WAV")
    t_wav, clip = median_time(lambda: decode(wav16, "long.wav"), args.repeats)
    print(f"decode {args.minutes:g} min, 16 kHz mono WAV ({len(wav16) / 1e6:.1f} MB): "
          f"{t_wav:.2f} s ({clip.duration:.0f} s of samples)")  # fmt: skip

    score = {}
    for name in ("commands", "instruments"):
        model, task, preset = default_model(name)
        pre = task.preprocess
        n_windows = len(classify.window_starts(clip.n_samples, pre.length))
        fractions = []

        def ask(model=model, task=task, fractions=fractions):
            fractions.clear()
            return classify.classify_clip(model, clip.samples, pre=task.preprocess,
                                          class_names=task.class_names, head=task.head,
                                          progress=fractions.append)  # fmt: skip

        ask()  # warm up (threads, allocator, the cached filterbank)
        t_score, pred = median_time(ask, args.repeats)
        batched = peak_growth(ask)

        def at_once(pre=pre, model=model):  # every window and its features in one go
            windows, _ = classify.windows_of(clip.samples, pre.length)  # (W, length)
            with torch.no_grad():
                model(classify.audio_tensor(windows, pre))

        whole = peak_growth(at_once)
        assert len(pred.window_starts) == n_windows and fractions[-1] == 1.0
        score[name] = t_score
        print(f"{name}: {preset} on {pre.length / pre.sample_rate:g} s log-mels "
              f"{tuple(task.input_shape)}, {n_windows} windows: scored in {t_score:.2f} s "
              f"({1000 * t_score / n_windows:.2f} ms a window, {len(fractions)} progress "
              f"updates); memory while scoring: +{batched:.0f} MB in batches, "
              f"+{whole:.0f} MB with every window at once")  # fmt: skip

    flac44 = encoded(synthetic_clip(seconds, 44100), 44100, "FLAC")
    t_flac, _ = median_time(lambda: decode(flac44, "long.flac"), args.repeats)
    print(f"decode {args.minutes:g} min, 44.1 kHz mono FLAC ({len(flac44) / 1e6:.1f} MB) "
          f"and resample to 16 kHz: {t_flac:.2f} s")  # fmt: skip

    total = t_wav + score["commands"]
    print(f"headline: {args.minutes:g} minutes of 16 kHz audio decoded and scored window by "
          f"window with the default model (commands, speech_cnn): {total:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
