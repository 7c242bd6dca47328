"""Train the small models the app ships, one per bundled dataset, so the pages that need a
trained network (Inside the network, Ask your model, a lecture) work the moment it starts.

Each is the dataset's default model trained with its tuned CPU recipe and seed 0 by the
app's own trainer (``python -m core.learn.train``), saved in the app's format (safetensors +
JSON, no pickle) under assets/models/<dataset>.zip; the test accuracy each reached is
written to assets/models/index.json and assets/models/README.md.

Run: python scripts/train_shipped_models.py [--datasets digits,commands,instruments]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "assets" / "models"


def main(argv=None) -> int:
    import torch

    from core.data import shipped
    from core.learn import task as tasks
    from core.learn.build import build_model
    from core.learn.train import evaluate, train

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", default="digits,commands,instruments")
    a = p.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    index_path = OUT / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    torch.set_num_threads(max(1, torch.get_num_threads()))
    for name in a.datasets.split(","):
        ds = shipped.load(name)
        preset = tasks.default_preset(ds)
        inputs = tasks.inputs_for(ds, tasks.reads_for_preset(ds, preset))
        plan = tasks.plan_preset(ds, inputs, preset)
        plan = plan.with_recipe(tasks.recipe_for(ds, inputs.representation, device="cpu"), seed=0)
        torch.manual_seed(0)
        model = build_model(plan.spec, plan.task.input_shape, logits=True)
        start = time.perf_counter()
        result = train(model, plan.split.data, plan.task.recipe, "cpu")
        test = evaluate(model, plan.split.x_test, plan.split.y_test, "cpu")
        bundle = plan.task.save(model, spec=plan.spec, extra={
            "dataset": name, "model": preset, "test_accuracy": test.accuracy,
            "verdict": result.reason, "shipped": True})  # fmt: skip
        (OUT / f"{name}.zip").write_bytes(bundle)
        index[name] = {
            "file": f"{name}.zip",
            "model": plan.model_name,
            "preset": preset,
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "test_accuracy": round(float(test.accuracy), 4),
            "test_examples": int(len(plan.split.y_test)),
            "epochs": plan.task.recipe.epochs,
            "seconds": round(time.perf_counter() - start, 1),
            "bytes": len(bundle),
        }
        print(f"{name}: {plan.model_name}, test {test.accuracy:.1%}, {len(bundle) / 1024:.0f} KB")
    index_path.write_text(json.dumps(index, indent=1) + "\n")
    rows = "\n".join(
        f"| `{v['file']}` | {k} | {v['model']} | {v['parameters']:,} | "
        f"{v['test_accuracy']:.1%} of {v['test_examples']} | {v['bytes'] / 1024:.0f} KB |"
        for k, v in sorted(index.items())
    )
    (OUT / "README.md").write_text(
        "# Shipped trained models\n\n"
        "Made by `scripts/train_shipped_models.py`: each bundled dataset's default model, "
        "trained with its tuned CPU recipe and seed 0 by the app's trainer, saved in the app's "
        "own format (a zip of `model.safetensors` and `model.json`; no pickle). They are "
        "derived from the datasets in `assets/` and carry their licences.\n\n"
        "| file | dataset | model | parameters | test accuracy | size |\n"
        "| --- | --- | --- | --- | --- | --- |\n" + rows + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
