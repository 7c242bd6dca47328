"""Few-shot words: a pretrained backbone against training from scratch, on eight clips a class.

The task (core.data.fewshot): four words ("yes", "no", "up", "down") and a background class of
room noise. Training: 8 one-second clips per class from two voices (one of espeak-ng's, one of
Flite's) at several rates; test: nine other voices of both synthesisers at three other rates
(what "a new voice" gets). Both models train on the same clips for the same epochs
(core.learn.transfer.compare): the app's default audio CNN from scratch, and a pretrained
network with a new head (frozen by default; ``--mode fine-tuned`` trains every layer): Google's
speech embedding, trained on speech for keyword spotting (the headline), and for reference the
aiSFX log-mel CNN, trained on sound-effects libraries.

One task is a small sample (60 training clips), so the benchmark builds it with several seeds
(which voices' takes are placed where, and the noise mixed in) and prints each, then the mean.

Needs espeak-ng and Flite (Debian: apt-get install espeak-ng flite). Run:
    python bench/bench_fewshot.py [--per-class 8] [--epochs 30] [--mode frozen] [--seeds 5]
The last line is the headline, the mean over the seeds:
    fewshot: pretrained P% vs scratch S% (train N clips, test M clips)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from core.data import fewshot  # noqa: E402
from core.learn import transfer  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--per-class", type=int, default=8)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--mode", default="frozen", choices=transfer.MODES)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seeds", type=int, default=5, help="tasks built, with seeds 0, 1, ...")
    p.add_argument("--backbone", default="speech_embedding", choices=["speech_embedding", "aisfx"])
    a = p.parse_args(argv)
    if a.seeds < 1:
        p.error("--seeds must be at least 1")
    import shutil

    missing = [exe for exe in ("espeak-ng", "flite") if shutil.which(exe) is None]
    if missing:
        print(f"fewshot: skipped ({' and '.join(missing)} not installed; Debian: apt-get install "
              "espeak-ng flite)")  # fmt: skip
        return 0
    other = "aisfx" if a.backbone == "speech_embedding" else "speech_embedding"
    scores = []  # (pretrained, scratch, reference) test accuracy per seed
    for seed in range(a.seeds):
        t0 = time.perf_counter()
        ds = fewshot.build(per_class=a.per_class, seed=seed)
        n = {k: len(v) for k, v in ds.splits.items()}
        print(f"seed {seed}: {ds.n_classes} classes; train {n['train']}, validation {n['val']}, "
              f"test {n['test']} clips; synthesised in {time.perf_counter() - t0:.1f} s")  # fmt: skip
        c = transfer.compare(ds, mode=a.mode, epochs=a.epochs, device=a.device, seed=seed,
                             backbone=a.backbone)  # fmt: skip
        reference = transfer.train_pretrained(ds, mode=a.mode, epochs=a.epochs, device=a.device,
                                              seed=seed, backbone=other)  # fmt: skip
        for side in (c.scratch, c.pretrained, reference):
            print(f"  {side.name}: test {side.test_accuracy:.1%}, trained "
                  f"{side.trained_parameters:,} of {side.total_parameters:,} parameters, "
                  f"{side.seconds:.1f} s")  # fmt: skip
        p_, s_ = c.pretrained.test_accuracy, c.scratch.test_accuracy
        print(f"  gap {100 * (p_ - s_):.1f} points")
        scores.append((p_, s_, reference.test_accuracy))
    mean = [sum(col) / len(scores) for col in zip(*scores, strict=True)]
    gaps = [100 * (p_ - s_) for p_, s_, _ in scores]
    print(f"over {len(scores)} seeds: pretrained {mean[0]:.1%}, scratch {mean[1]:.1%}, {other} "
          f"{mean[2]:.1%}; gap {min(gaps):.1f} to {max(gaps):.1f} points")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"fewshot: pretrained {mean[0]:.0%} vs scratch {mean[1]:.0%} "
          f"(train {c.n_train} clips, test {c.n_test} clips)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
