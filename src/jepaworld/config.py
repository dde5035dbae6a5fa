"""Typed configs and the command line generated from them.

Every component has one dataclass config whose fields carry their help text in
``metadata["help"]``; ``add_arguments`` turns such a dataclass into argparse
options and ``from_namespace`` builds the config back, so the CLI and the Python
API can never disagree about names, types or defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from typing import Any, TypeVar

C = TypeVar("C")


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with a help text (shown by ``--help``)."""
    if isinstance(default, list | dict | tuple):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help, **kwargs})


def _base_type(tp: Any) -> tuple[Any, bool]:
    """(inner type, optional?) for ``X | None`` annotations."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0], True
    return tp, False


def add_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str = "", skip: tuple[str, ...] = ()) -> None:
    """Add one ``--option`` per field of the dataclass ``cls`` (``skip``: fields given as positionals)."""
    hints = typing.get_type_hints(cls)
    group = parser.add_argument_group(cls.__name__, (cls.__doc__ or "").strip().splitlines()[0])
    for f in dataclasses.fields(cls):
        if not f.init or f.metadata.get("cli") is False or f.name in skip:
            continue
        tp, _ = _base_type(hints[f.name])
        flag = "--" + prefix + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        help_text = f"{f.metadata.get('help', '')} (default: {default})"
        if tp is bool:
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        elif typing.get_origin(tp) is tuple:
            inner = typing.get_args(tp)[0]
            group.add_argument(flag, type=inner, nargs="+", default=default, help=help_text, metavar="V")
        elif typing.get_origin(tp) is typing.Literal:
            choices = typing.get_args(tp)
            group.add_argument(flag, choices=choices, default=default, help=help_text)
        else:
            group.add_argument(flag, type=tp, default=default, help=help_text, metavar=f.name.upper())


def from_namespace(cls: type[C], ns: argparse.Namespace, prefix: str = "") -> C:
    """Build ``cls`` from the options ``add_arguments`` declared."""
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = (prefix + f.name).replace("-", "_")
        if f.init and hasattr(ns, key):
            value = getattr(ns, key)
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a dataclass config (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls: type[C], data: dict[str, Any], source: str = "config") -> C:
    """Rebuild a config from ``to_dict`` output; unknown keys are an error, not ignored."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{source}: unknown {cls.__name__} field(s) {unknown}; expected a subset of {sorted(names)}")
    hints = typing.get_type_hints(cls)
    values = {}
    for key, value in data.items():
        tp, _ = _base_type(hints[key])
        values[key] = tuple(value) if typing.get_origin(tp) is tuple and value is not None else value
    return cls(**values)


def check(condition: bool, message: str) -> None:
    """Raise ``ValueError(message)`` unless ``condition``: used in ``__post_init__``."""
    if not condition:
        raise ValueError(message)
