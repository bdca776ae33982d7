"""Optional dependencies: which extra installs each, and the one-line error when one is missing.

The core library needs only torch and numpy. The tasks, the command line's plots and progress
bars, graph distances and file conversion use the ``tasks`` extra; :mod:`tinvnn.pyg` uses the
``pyg`` extra. Code that needs one imports it where it is used, through :func:`require`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "MissingDependencyError", "missing_dependency", "require"]

# Top-level module name -> the extra of pyproject.toml that installs it.
EXTRAS: dict[str, str] = {
    "tqdm": "tasks",
    "matplotlib": "tasks",
    "scipy": "tasks",
    "elkai": "tasks",
    "h5py": "tasks",
    "trimesh": "tasks",
    "torch_geometric": "pyg",
}


class MissingDependencyError(ModuleNotFoundError):
    """An optional dependency is not installed; the message names the ``pip install`` that adds it.

    Attributes:
        name: the missing top-level module (a key of :data:`EXTRAS`).
        install: the command that installs it, ``pip install 'tinvnn[<extra>]'``.
    """

    def __init__(self, feature: str, module: str) -> None:
        self.install = f"pip install 'tinvnn[{EXTRAS[module]}]'"
        super().__init__(f"{feature} needs the optional dependency {module!r}: {self.install}", name=module)


def missing_dependency(err: ModuleNotFoundError, feature: str) -> MissingDependencyError | None:
    """The one-line error for ``err`` when it is about an optional dependency, else None.

    Example:
        >>> str(missing_dependency(ModuleNotFoundError("No module named 'scipy'", name="scipy"), "tinvnn.geometry"))
        "tinvnn.geometry needs the optional dependency 'scipy': pip install 'tinvnn[tasks]'"
    """
    if isinstance(err, MissingDependencyError):
        return err
    root = (err.name or "").split(".")[0]
    if root not in EXTRAS:
        return None
    return MissingDependencyError(feature, root)


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` (an optional dependency) for ``feature``, or raise the one-line error.

    Raises:
        MissingDependencyError: ``module`` (or what it imports) is an optional dependency that
            is not installed.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        missing = missing_dependency(err, feature)
        if missing is None:
            raise
        raise missing from None
