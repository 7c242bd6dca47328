"""The app's pages in one list: app.py builds the navigation from it, the home page its links."""

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    section: str
    path: str
    title: str
    icon: str
    url_path: str
    blurb: str


PAGES = [
    PageInfo(
        "How a layer computes",
        "pages/convolution.py",
        "Convolution",
        ":material/grid_on:",
        "convolution",
        "A kernel slides over numbers you type: every multiplication and sum written out, "
        "with stride, padding and dilation; the same on a picture and on a 1-D signal.",
    ),
    PageInfo(
        "How a layer computes",
        "pages/pooling.py",
        "Pooling",
        ":material/view_module:",
        "pooling",
        "Max and average pooling step by step, the maximum marked; global average pooling.",
    ),
]
