"""Honest partial stand-ins for ComfyUI internals Atelier does not have (video models, TAESD, hooks, ...).

Packs import such names at load time, subclass the classes and call the functions only when one of their nodes
runs. A stand-in makes the import and the subclassing work and refuses the use: building the class or calling the
function raises ``NotImplementedError`` naming the ComfyUI name and what Atelier lacks. Nothing is faked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn


class NotInAtelier(NotImplementedError):
    """A ComfyUI internal that Atelier does not implement was used."""


def refusal(qualname: str, lacks: str) -> NotInAtelier:
    return NotInAtelier(f"{qualname} is ComfyUI internals that Atelier does not have ({lacks})")


def unsupported_function(module: str, name: str, lacks: str) -> Callable[..., NoReturn]:
    """A function ``module.name`` that raises when called."""

    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise refusal(f"{module}.{name}", lacks)

    refuse.__name__ = refuse.__qualname__ = name
    refuse.__module__ = module
    refuse.__doc__ = f"ComfyUI's {module}.{name}: not in Atelier ({lacks}); calling it raises NotImplementedError."
    return refuse


def unsupported_class(module: str, name: str, lacks: str, bases: tuple[type, ...] = (object,)) -> type:
    """A class ``module.name`` that packs can subclass and test with ``isinstance``; building one (or one of its
    subclasses) raises."""

    def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
        raise refusal(f"{module}.{name}", lacks)

    namespace = {"__init__": refuse, "__module__": module, "__qualname__": name,
                 "__doc__": f"ComfyUI's {module}.{name}: not in Atelier ({lacks}); building one raises."}
    return type(name, bases, namespace)
