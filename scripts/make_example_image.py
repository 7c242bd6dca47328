"""Extract the example picture shipped in assets/images/ from the scikit-image wheel.

The picture is scikit-image's "chelsea" (a cat, by Stefan van der Walt, released under CC0).
Run once with network access to PyPI: `python scripts/make_example_image.py`.
"""

import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "assets" / "images" / "cat.png"
WHEEL_VERSION = "0.26.0"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                f"scikit-image=={WHEEL_VERSION}",
                "-d",
                tmp,
            ],
            check=True,
        )
        wheel = next(Path(tmp).glob("scikit_image-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read("skimage/data/chelsea.png")
    img = Image.open(io.BytesIO(data)).convert("RGB")
    img.thumbnail((240, 240), Image.Resampling.LANCZOS)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    img.save(OUT, optimize=True)
    print(f"wrote {OUT} {img.size}")


if __name__ == "__main__":
    main()
