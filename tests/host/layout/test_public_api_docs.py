"""The public API a library user builds on says what each call does, in which units and why (docstrings), with
type hints: rollsignal's exported names and the roller client `holdsense.link.device.Device`
(docs/architecture.md). Several `Device` methods (battery, status, set_rate, cue, stop_streaming,
get_calibration, set_calibration) had neither docstring nor full hints."""
from __future__ import annotations

import inspect

import pytest

import rollsignal
from holdsense.link.device import Device


def _members(cls: type) -> list[tuple[str, object]]:
    out = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        elif isinstance(value, property):
            value = value.fget
        if inspect.isfunction(value):
            out.append((f"{cls.__name__}.{name}", value))
    return out


def _public() -> list[tuple[str, object]]:
    items: list[tuple[str, object]] = []
    for name in rollsignal.__all__:
        obj = getattr(rollsignal, name)
        if inspect.isfunction(obj):
            items.append((name, obj))
        elif inspect.isclass(obj):
            items.append((name, obj))
            items += _members(obj)
    items.append(("Device", Device))
    items += _members(Device)
    return items


@pytest.mark.parametrize("name,obj", _public(), ids=[n for n, _ in _public()])
def test_documented_and_typed(name: str, obj: object) -> None:
    assert (obj.__doc__ or "").strip(), f"{name} has no docstring"
    if inspect.isfunction(obj):
        sig = inspect.signature(obj)
        bare = [p for p, v in sig.parameters.items()
                if p not in ("self", "cls") and v.annotation is inspect.Parameter.empty
                and v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)]
        assert not bare, f"{name}: parameter(s) {bare} without a type hint"
        assert sig.return_annotation is not inspect.Signature.empty, f"{name}: no return type hint"
