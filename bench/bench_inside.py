"""Inside the network: the server time to draw the page's numbers for one input, per shipped
model, and Grad-CAM and occlusion on their own.

For each shipped model (assets/models): walk (every layer's output), top-3, the first layer's
redo for one filter with its 5x5 crop's step frames, Grad-CAM at the last conv layer, and
occlusion; each timed over --repeats inputs from the test split, medians printed. Figures are
not included (plotly building is the same for any model). Targets: the page's numbers
(everything but occlusion, which has its own spinner) within 1 s, Grad-CAM within 300 ms.

Run: python bench/bench_inside.py [--repeats 10]
The last line is the headline: the slowest model's page time and Grad-CAM time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main(argv=None) -> int:
    from core.data import shipped
    from core.explain.frames import step_frames
    from core.learn import inside as I
    from core.learn.classify import Preprocess

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=10)
    a = p.parse_args(argv)
    worst_page = worst_cam = 0.0
    for name in I.shipped_models():
        bundle = I.load_shipped(name)
        pre = Preprocess.from_dict(bundle.features or {})
        ex = I.test_examples(bundle.model, shipped.load(name), pre.representation, pre.pad)
        model, layer = bundle.model.eval(), I.conv_layer_names(bundle.model)[-1]
        first = I.conv_layer_names(model)[0]
        times = {"walk + top-3": [], "unit redo + frames": [], "Grad-CAM": [], "occlusion": []}
        for i in range(a.repeats):
            x = ex.x[i : i + 1]
            t = time.perf_counter()
            I.walk(model, x)
            I.top_k(model, x)
            times["walk + top-3"].append(time.perf_counter() - t)
            t = time.perf_counter()
            op = I.unit_operation(model, x, first)
            if op.result.padded.ndim == 3:
                crop, _ = I.crop_operation(op, 0, 2, 2)
                step_frames(crop)
            times["unit redo + frames"].append(time.perf_counter() - t)
            t = time.perf_counter()
            I.grad_cam(model, x, int(ex.predicted[i]), layer)
            times["Grad-CAM"].append(time.perf_counter() - t)
            window = tuple(max(2, n // 7) for n in x.shape[2:])
            t = time.perf_counter()
            I.occlusion(model, x, int(ex.predicted[i]), window=window,
                        stride=tuple(max(1, w // 2) for w in window))  # fmt: skip
            times["occlusion"].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        page = sum(v for k, v in med.items() if k != "occlusion")  # occlusion: its own spinner
        worst_page, worst_cam = max(worst_page, page), max(worst_cam, med["Grad-CAM"])
        print(f"{name}: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in med.items())
              + f"; page without occlusion {page * 1000:.0f} ms")  # fmt: skip
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"inside: page numbers at most {worst_page * 1000:.0f} ms (target 1000), Grad-CAM at "
          f"most {worst_cam * 1000:.0f} ms (target 300)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
