"""Optional dependencies: which extra installs each, and the one-line error when one is missing.

The core library needs only torch and numpy; so do point-cloud training, evaluation, audit and
classification (``tinvnn train/eval/audit/classify``) and ``tinvnn nbody``. Each other use has
an extra of ``pyproject.toml`` (:data:`EXTRA_MODULES` lists what each installs; ``tasks``
installs them all). Code that needs one imports it where it is used, through :func:`require`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["COMMAND_EXTRAS", "EXTRAS", "EXTRA_MODULES", "MissingDependencyError", "missing_dependency", "require"]

# Top-level module name -> the smallest extra of pyproject.toml that installs it.
EXTRAS: dict[str, str] = {
    "tqdm": "progress",  # progress bars on a terminal (without it: plain progress lines)
    "matplotlib": "plots",  # tinvnn sweep-angle, demo, tsp solve's plot
    "scipy": "geometry",  # tinvnn.geometry's sparse graphs, the TSP neighbour search
    "elkai": "tsp",  # LKH-3 reference tours
    "h5py": "convert",  # tinvnn data convert --format hdf5
    "trimesh": "pointcloud",  # tinvnn classify of .ply, .obj and .stl files
    "torch_geometric": "pyg",
}

# Extra -> the optional top-level modules it installs (with the extras it includes); checked
# against pyproject.toml by tests/test_install.py.
EXTRA_MODULES: dict[str, frozenset[str]] = {
    "progress": frozenset({"tqdm"}),
    "plots": frozenset({"matplotlib"}),
    "geometry": frozenset({"scipy"}),
    "convert": frozenset({"h5py"}),
    "pyg": frozenset({"torch_geometric", "scipy"}),
    "pointcloud": frozenset({"tqdm", "matplotlib", "trimesh"}),
    "nbody": frozenset({"tqdm"}),
    "tsp": frozenset({"tqdm", "matplotlib", "scipy", "elkai"}),
    "tasks": frozenset({"tqdm", "matplotlib", "scipy", "elkai", "h5py", "trimesh"}),
}

# Command (first word after ``tinvnn``) -> the extra that gives it everything it uses.
COMMAND_EXTRAS: dict[str, str] = {
    "train": "pointcloud",
    "eval": "pointcloud",
    "sweep-angle": "pointcloud",
    "audit": "pointcloud",
    "classify": "pointcloud",
    "demo": "pointcloud",
    "tsp": "tsp",
    "nbody": "nbody",
    "data": "convert",
}


class MissingDependencyError(ModuleNotFoundError):
    """An optional dependency is not installed; the message names the ``pip install`` that adds it.

    Attributes:
        feature: what needs it ("tinvnn tsp", "tinvnn.geometry").
        name: the missing top-level module (a key of :data:`EXTRAS`).
        install: the command that installs it, ``pip install 'tinvnn[<extra>]'``.
    """

    def __init__(self, feature: str, module: str, *, extra: str | None = None) -> None:
        self.feature = feature
        self.install = f"pip install 'tinvnn[{extra or EXTRAS[module]}]'"
        super().__init__(f"{feature} needs the optional dependency {module!r}: {self.install}", name=module)


def missing_dependency(
    err: ModuleNotFoundError, feature: str, *, command: str | None = None
) -> MissingDependencyError | None:
    """The one-line error for ``err`` when it is about an optional dependency, else None.

    ``command``: the ``tinvnn`` sub-command that needs it; the error then names the extra that
    gives the whole command what it uses (:data:`COMMAND_EXTRAS`), not only the missing module.

    Example:
        >>> str(missing_dependency(ModuleNotFoundError("No module named 'scipy'", name="scipy"), "tinvnn.geometry"))
        "tinvnn.geometry needs the optional dependency 'scipy': pip install 'tinvnn[geometry]'"
        >>> err = ModuleNotFoundError("No module named 'scipy'", name="scipy")
        >>> str(missing_dependency(err, "tinvnn tsp", command="tsp"))
        "tinvnn tsp needs the optional dependency 'scipy': pip install 'tinvnn[tsp]'"
    """
    root = (err.name or "").split(".")[0]
    if root not in EXTRAS:
        return None
    extra = COMMAND_EXTRAS.get(command or "")
    if extra is None or root not in EXTRA_MODULES[extra]:
        extra = EXTRAS[root]
    if isinstance(err, MissingDependencyError):  # raised by require(): keep what it says needs the module
        return err if command is None else MissingDependencyError(err.feature, root, extra=extra)
    return MissingDependencyError(feature, root, extra=extra)


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
