"""Keep the book build's execution cache honest (``make book`` runs this before it builds).

jupyter-cache recognises an executed notebook by its code cells and kernel only. A build in full
mode into a folder that holds a fast-mode build would therefore reuse the fast-mode outputs of
every unchanged notebook, and so would a build after a change to ``dlbook`` or to the pinned
versions. :func:`guard_cache` records what the cached outputs were made with (the run mode and a
fingerprint of ``dlbook/``, ``pyproject.toml`` and ``requirements.txt``) and empties the cache,
announced in one line, when that changes::

    python -m dlbook.build _build          # before jupyter-book build . (the mode from DLBOOK_MODE)
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

KEY_FILE = ".dlbook-cache-key"
"""Name of the file, beside the cache folder, that records what the cache was made with."""


def fingerprint(root: Path, mode: str) -> str:
    """A short hash of the run mode and of the code and versions the notebooks run with.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> fingerprint(root, "fast") == fingerprint(root, "fast") != fingerprint(root, "full")
    True
    """
    digest = hashlib.sha256(f"mode={mode}\n".encode())
    files = sorted((root / "dlbook").rglob("*.py")) + [root / "pyproject.toml", root / "requirements.txt"]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def guard_cache(build_dir: Path, root: Path, mode: str, log=print) -> bool:
    """Empty ``build_dir/.jupyter_cache`` if it was made with another mode or other code.

    Returns True when the cache was emptied. The first build records its key and keeps nothing.
    """
    if mode not in ("fast", "full"):
        raise ValueError(f"mode must be 'fast' or 'full', got {mode!r}; set DLBOOK_MODE to one of them.")
    build_dir = Path(build_dir)
    cache, key_file = build_dir / ".jupyter_cache", build_dir / KEY_FILE
    key = fingerprint(Path(root), mode)
    old = key_file.read_text().strip() if key_file.is_file() else None
    cleared = False
    if cache.exists() and old != key:
        shutil.rmtree(cache)
        cleared = True
        log(f"dlbook.build: the executed notebooks in {cache} were made "
            f"{'by an unrecorded build' if old is None else 'in another mode or with other code'}; "
            "emptied the cache, so every notebook runs again.")
    build_dir.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n")
    return cleared


def main(argv=None) -> int:
    import argparse

    from dlbook import runtime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path, help="the jupyter-book _build folder")
    args = parser.parse_args(argv)
    rt = runtime.setup(quiet=True)
    print(runtime.describe(rt))  # the mode and device the build's notebooks will use
    guard_cache(args.build_dir, Path(__file__).resolve().parents[1], rt.mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
