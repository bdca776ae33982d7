"""Where tinvnn reads data and writes caches.

Two settings, both overridable per call:

* **data directory** (read-only inputs such as ModelNet40 and TSPLIB): ``$TINVNN_DATA``,
  else ``./data``. The expected layout is ``<data>/modelnet40/{train,test}.npz`` and
  ``<data>/tsplib/*.tsp`` with ``solutions.txt``; see ``docs/data.md``.
* **cache directory** (files tinvnn generates once and reuses, e.g. n-body trajectories and
  reference tour lengths): ``$TINVNN_CACHE``, else ``~/.cache/tinvnn``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "cache_dir"]


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: ``override``, else ``$TINVNN_DATA``, else ``./data``.

    The directory is not required to exist; loaders check for the files they need and say
    which layout they expected.
    """
    if override is not None:
        return Path(override).expanduser()
    return Path(os.environ.get("TINVNN_DATA", "data")).expanduser()


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The writable cache directory: ``override``, else ``$TINVNN_CACHE``, else ``~/.cache/tinvnn``.

    Created on first use.
    """
    if override is not None:
        path = Path(override).expanduser()
    else:
        path = Path(os.environ.get("TINVNN_CACHE", Path.home() / ".cache" / "tinvnn")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
