"""One configuration base for every task, and its bridge to the command line.

A task's configuration is a frozen dataclass deriving from :class:`Config`. Each field may
carry its help text with :func:`option`; :func:`add_arguments` turns the fields into argparse
flags (every flag shows its default), :func:`from_args` reads them back. Nested dataclass
fields (the n-body dataset settings, say) become flags with the field's name as prefix
(``data.n_train`` -> ``--data-n-train``).

The compatibility rule for checkpoints, the only one: :meth:`Config.from_dict` fills a key
that a stored configuration lacks with the field's default. So a key added later must default
to the behaviour that older checkpoints were trained with, and its help says so. Keys that
the class does not know are refused (the checkpoint belongs to another task or model).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

__all__ = ["Config", "ConfigError", "option", "add_arguments", "from_args"]

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """A stored configuration that this code cannot read (unknown keys, scalar values of the wrong
    type, or values its checks refuse)."""


def option(
    default: Any,
    help: str,
    *,
    choices: typing.Sequence[Any] | None = None,
    metavar: str | None = None,  # noqa: A002
) -> Any:
    """A dataclass field with command-line help (and optional choices and metavar).

    ``help`` may say what ``None`` means with ``(None: ...)``; with a ``None`` default the flag's
    help then reads ``(default: ...)``. ``metavar`` names the value in the usage line (default:
    from the field's name and type, see :func:`add_arguments`).

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class Demo(Config):
        ...     width: int = option(256, "channels of the global feature")
    """
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None, "metavar": metavar}
    if isinstance(default, (list, dict, set)):
        raise TypeError("option: use an immutable default (tuple, frozenset)")
    if dataclasses.is_dataclass(default) and not isinstance(default, type):
        return dataclasses.field(default_factory=lambda: default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class Config:
    """Base of the frozen dataclass configurations; adds plain-data conversion.

    Attributes:
        retired_keys: keys that older checkpoints store but the class no longer has (a field
            that moved elsewhere); :meth:`from_dict` drops them.
    """

    retired_keys: typing.ClassVar[frozenset[str]] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        """Plain data (nested dataclasses become dicts): what a checkpoint stores."""
        values: dict[str, Any] = dataclasses.asdict(self)  # type: ignore[call-overload]
        return values

    @classmethod
    def from_dict(cls: type[C], values: Mapping[str, Any]) -> C:
        """Inverse of :meth:`to_dict`; missing keys take their defaults (see module docstring).

        Raises:
            ConfigError: a key the class does not know, or values its checks refuse.
        """
        config: C = _build(cls, values, cls.__name__)
        return config

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
    retired: frozenset[str] = getattr(cls, "retired_keys", frozenset())
    values = {k: v for k, v in values.items() if k not in retired}
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; expected a subset of {sorted(known)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        inner = _dataclass_type(hints[name])
        if inner is not None:
            kwargs[name] = _build(inner, value, f"{where}.{name}")
            continue
        _check_type(value, hints[name], f"{where}.{name}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


def _check_type(value: Any, hint: Any, where: str) -> None:
    """Refuse a stored value of the wrong scalar type (a string where a bool belongs, ...)."""
    kind, optional = _scalar_type(hint)
    if value is None and optional:
        return
    ok = {
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        str: lambda v: isinstance(v, str),
    }.get(kind, lambda v: True)(value)
    if not ok:
        raise ConfigError(
            f"{where}: expected {getattr(kind, '__name__', kind)}{' or None' if optional else ''}, got {value!r}"
        )


def _dataclass_type(hint: Any) -> type | None:
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _scalar_type(hint: Any) -> tuple[type, bool]:
    """(argparse type, optional) of a field annotation such as ``int``, ``float | None``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported field type {hint}")
        return args[0], True
    return hint, False


def _optional(kind: type) -> typing.Callable[[str], Any]:
    def parse(text: str) -> Any:
        return None if text.lower() == "none" else kind(text)

    parse.__name__ = kind.__name__
    return parse


def _flag(prefix: str, name: str) -> str:
    return "--" + (prefix + name).replace("_", "-")


def _metavar(name: str, kind: type) -> str:
    """The value's name in the usage line, from what the field holds: ``--out DIR``, ``--epochs N``."""
    if kind is int:
        return "N"
    if kind is float:
        return "X"
    if name == "out" or name.endswith("dir"):
        return "DIR"
    if name in ("teacher", "init", "checkpoint") or name.endswith(("_file", "_path", "checkpoint")):
        return "FILE"
    if name.endswith("protocol"):
        return "PROTOCOL"
    if name == "device":
        return "DEVICE"
    return "TEXT"


def _help(text: str, default: Any) -> str:
    """Help that shows the default once: a ``None`` default explained by ``(None: ...)`` reads ``(default: ...)``."""
    text = text.replace("%", "%%")  # argparse formats help with %
    if default is None and "(None: " in text:
        return text.replace("(None: ", "(default: ")
    return f"{text} (default: %(default)s)".strip()


def add_arguments(
    parser: argparse.ArgumentParser,
    cls: type[Config],
    *,
    exclude: typing.Collection[str] = (),
    prefix: str = "",
) -> None:
    """Add one flag per field of ``cls`` (booleans as ``--x/--no-x``); help shows the default.

    Args:
        parser: where to add the flags.
        cls: the configuration dataclass.
        exclude: field names not to expose (the caller sets them).
        prefix: flag prefix for a nested configuration (used recursively).
    """
    hints = typing.get_type_hints(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in exclude:
            continue
        default = getattr(defaults, f.name)
        nested = _dataclass_type(hints[f.name])
        if nested is not None:
            add_arguments(parser, nested, prefix=f"{prefix}{f.name}_")
            continue
        kind, optional = _scalar_type(hints[f.name])
        help_text = _help(f.metadata.get("help", ""), default)
        kwargs: dict[str, Any] = {"default": default, "dest": prefix + f.name, "help": help_text}
        if f.metadata.get("choices"):
            kwargs["choices"] = (*f.metadata["choices"], None) if optional else f.metadata["choices"]
        if kind is bool:
            parser.add_argument(_flag(prefix, f.name), action=argparse.BooleanOptionalAction, **kwargs)
        else:
            kwargs["type"] = _optional(kind) if optional else kind
            if "choices" not in kwargs:
                kwargs["metavar"] = f.metadata.get("metavar") or _metavar(f.name, kind)
            parser.add_argument(_flag(prefix, f.name), **kwargs)


def from_args(cls: type[C], args: argparse.Namespace, *, prefix: str = "", **fixed: Any) -> C:
    """Build ``cls`` from the flags :func:`add_arguments` added, plus ``fixed`` values.

    Raises:
        ValueError: the configuration's own checks fail. A message that starts with the field
            names (``epochs: expected a positive integer, got 0``) names the flags instead
            (``--epochs: ...``); the Python API keeps the field names.
    """
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(fixed) - {f.name for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
    if unknown:
        raise TypeError(f"from_args: {cls.__name__} has no fields {unknown}")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in fixed:
            values[f.name] = fixed[f.name]
            continue
        nested = _dataclass_type(hints[f.name])
        if nested is not None:
            values[f.name] = from_args(nested, args, prefix=f"{prefix}{f.name}_")
        elif hasattr(args, prefix + f.name):
            values[f.name] = getattr(args, prefix + f.name)
    try:
        return cls(**values)
    except ValueError as err:
        names = {f.name for f in dataclasses.fields(cls)} - set(fixed)  # type: ignore[arg-type]
        flagged = _name_flags(str(err), names, prefix)
        if flagged is None:
            raise
        raise ValueError(flagged) from err


def _name_flags(message: str, fields: typing.Collection[str], prefix: str) -> str | None:
    """``"epochs, lr: ..."`` -> ``"--epochs, --lr: ..."`` when every leading name is one of ``fields``; else None."""
    head, sep, rest = message.partition(": ")
    names = [name.strip() for name in head.split(",")]
    if not sep or not all(name in fields for name in names):
        return None
    return ", ".join(_flag(prefix, name) for name in names) + sep + rest
