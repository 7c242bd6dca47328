"""Few-shot words: a pretrained backbone against training from scratch, on eight clips a class.

The task (core.data.fewshot): four words ("yes", "no", "up", "down") spoken by espeak-ng and a
background class of room noise. Training: 8 one-second clips per class from two voices at
several rates; test: six other voices at three other rates (what "a new voice" gets). Both
models train on the same clips for the same epochs (core.learn.transfer.compare): the app's
default audio CNN from scratch, and a pretrained network with a new head (frozen by default;
``--mode fine-tuned`` trains every layer): Google's speech embedding, trained on speech for
keyword spotting (the headline), and for reference the aiSFX log-mel CNN, trained on
sound-effects libraries.

Needs espeak-ng (Debian: apt-get install espeak-ng). Run:
    python bench/bench_fewshot.py [--per-class 8] [--epochs 30] [--mode frozen] [--device cpu]
The last line is the headline:
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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backbone", default="speech_embedding", choices=["speech_embedding", "aisfx"])
    a = p.parse_args(argv)
    import shutil

    if shutil.which("espeak-ng") is None:
        print("fewshot: skipped (espeak-ng is not installed; Debian: apt-get install espeak-ng)")
        return 0
    t0 = time.perf_counter()
    ds = fewshot.build(per_class=a.per_class, seed=a.seed)
    n = {k: len(v) for k, v in ds.splits.items()}
    print(f"task: {ds.n_classes} classes {ds.class_names}; train {n['train']}, validation "
          f"{n['val']}, test {n['test']} clips; synthesised in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    c = transfer.compare(ds, mode=a.mode, epochs=a.epochs, device=a.device, seed=a.seed,
                         backbone=a.backbone)  # fmt: skip
    other = "aisfx" if a.backbone == "speech_embedding" else "speech_embedding"
    reference = transfer.train_pretrained(ds, mode=a.mode, epochs=a.epochs, device=a.device,
                                          seed=a.seed, backbone=other)  # fmt: skip
    for side in (c.scratch, c.pretrained, reference):
        print(f"{side.name}: test {side.test_accuracy:.1%}, trained {side.trained_parameters:,} "
              f"of {side.total_parameters:,} parameters, {side.seconds:.1f} s")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"fewshot: pretrained {c.pretrained.test_accuracy:.0%} vs scratch "
          f"{c.scratch.test_accuracy:.0%} (train {c.n_train} clips, test {c.n_test} clips)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
