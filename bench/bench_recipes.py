"""Which recipe reaches each dataset's target on this device, over several seeds, and how fast.

For every candidate recipe of a dataset (the CPU recipe, the GPU recipe, then any given with
``--grid``), the default model is trained ``--seeds`` times by ``core.learn.train.train`` on the
chosen device; we print, per candidate, the median training time, the worst and median test
accuracy of the kept (best-by-validation) weights, and whether every seed cleared the target.
The data are prepared once per dataset and moved to the device once per run.

Run: python bench/bench_recipes.py [--device auto] [--seeds 5] [--datasets digits]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.data import shipped as data  # noqa: E402
from core.learn import task as tasks  # noqa: E402
from core.learn.build import build_model  # noqa: E402
from core.learn.train import (  # noqa: E402
    DEFAULT_RECIPES,
    GPU_RECIPES,
    choose_device,
    evaluate,
    train,
)

TARGETS = {"digits": 0.97, "commands": 0.90, "instruments": 0.95}


def candidates(name: str, grid=()) -> list[tuple[str, object]]:
    base = DEFAULT_RECIPES[name]
    out = [("default", base)]
    if name in GPU_RECIPES:
        out.append(("gpu default", GPU_RECIPES[name]))
    for bs, lr, epochs in grid:
        out.append((f"batch {bs}, lr {lr:g}, {epochs} ep", replace(base, batch_size=bs, lr=lr,
                                                                    epochs=epochs)))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["cpu", "cuda", "mps", "auto"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", default="digits,commands,instruments")
    parser.add_argument("--only", default="", help="run only candidates whose label has this")
    parser.add_argument("--grid", default="", help="batch:lr:epochs,... to try beside the "
                        "tuned recipes, e.g. 256:0.02:20,512:0.04:30")  # fmt: skip
    args = parser.parse_args()
    device = choose_device(args.device)
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    print(f"torch {torch.__version__} on {device}{gpu}")
    if device.type == "cuda":  # CUDA start-up is not any recipe's cost
        torch.zeros(1, device=device).sum().item()
    for name in [s for s in args.datasets.split(",") if s]:
        ds = data.load(name)
        preset = tasks.default_preset(ds)
        inputs = tasks.inputs_for(ds, tasks.reads_for_preset(ds, preset))
        plan = tasks.plan_preset(ds, inputs, preset)
        x_te = plan.split.x_test.to(device)
        y_te = plan.split.y_test.to(device)
        print(f"\n== {name} (target {TARGETS[name]:.0%}), model {preset}")
        grid = [tuple(float(v) for v in g.split(":")) for g in args.grid.split(",") if g]
        grid = [(int(b), lr, int(e)) for b, lr, e in grid]
        for label, recipe in candidates(name, grid):
            if args.only and args.only not in label:
                continue
            times, accs = [], []
            for seed in range(args.seeds):
                r = replace(recipe, seed=seed)
                torch.manual_seed(seed)
                model = build_model(plan.spec, plan.task.input_shape, logits=True)
                res = train(model, plan.split.data, r, device)
                times.append(res.elapsed)
                accs.append(evaluate(model, x_te, y_te, device).accuracy)
            ok = all(a >= TARGETS[name] for a in accs)
            print(f"   {label:28s} median {statistics.median(times):5.2f} s, test accuracy "
                  f"min {min(accs):.4f} median {statistics.median(accs):.4f} "
                  f"{'all seeds reach the target' if ok else 'MISSES on some seed'}  "
                  f"[batch {recipe.batch_size}, lr {recipe.lr:g}, {recipe.epochs} epochs]")  # fmt: skip
            sys.stdout.flush()


if __name__ == "__main__":
    main()
