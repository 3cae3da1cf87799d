"""Each package shows its public API in ``__all__``, every name documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = ["orm", "realtime", "server", "migrations"]


@pytest.mark.parametrize("name", PACKAGES)
def test_package_is_documented(name: str) -> None:
    module = importlib.import_module(name)

    assert inspect.getdoc(module)


@pytest.mark.parametrize(
    ("package", "name"),
    [
        (package, name)
        for package in PACKAGES
        for name in importlib.import_module(package).__all__
    ],
)
def test_exported_name_exists_and_is_documented(package: str, name: str) -> None:
    value = getattr(importlib.import_module(package), name)

    if inspect.isclass(value):
        # A class's own docstring, not one inherited from Generic or Protocol.
        assert value.__dict__.get("__doc__"), f"{package}.{name} has no docstring"
    elif inspect.isfunction(value):
        assert inspect.getdoc(value), f"{package}.{name} has no docstring"
