"""Stop early, with a sentence, when the interpreter is not the Python 3.11 the pins need."""

import sys

if sys.version_info[:2] != (3, 11):
    sys.exit(
        f"This project needs Python 3.11 (torch 2.14.1 wheels are built for it); "
        f"found {sys.version.split()[0]}. Install python3.11 or run `make PY=/path/to/python3.11`."
    )
