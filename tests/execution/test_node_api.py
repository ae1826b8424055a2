"""Registration checks a typed node's ``execute`` against its declared inputs, and a plug-in loads whole or not."""

from __future__ import annotations

import os

import pytest

from core.registry import Registry
from nodes.api import ExecutionContext, Int, Node, Output, Socket
from nodes.plugins import load_plugins


class WithContext(Node):
    inputs = [Int("a", 1), Socket("b", "INT", optional=True)]
    outputs = [Output("*"), Output("INT")]

    def execute(self, a: int, context: ExecutionContext, b: int | None = None) -> tuple:
        return context, a


class WithoutContext(Node):
    inputs = [Int("a", 1)]
    outputs = [Output("INT")]

    def execute(self, a: int) -> tuple:
        return (a,)


def test_execute_gets_its_context_only_when_it_asks_for_it():
    assert WithContext.definition("tests").run(WithContext(), "the context", a=3) == ("the context", 3)
    assert WithoutContext.definition("tests").run(WithoutContext(), "the context", a=3) == (3,)


class TakesUndeclared(Node):
    inputs = [Int("a", 1)]
    outputs = [Output("INT")]

    def execute(self, a: int, denoise: float = 1.0) -> tuple:  # KSamplerAdvanced's old mistake
        return (a,)


class IgnoresDeclared(Node):
    inputs = [Int("a", 1)]
    outputs = [Output("INT")]

    def execute(self) -> tuple:
        return (1,)


class DeclaresContext(Node):
    inputs = [Int("context", 1)]
    outputs = [Output("INT")]

    def execute(self, context: int) -> tuple:
        return (context,)


@pytest.mark.parametrize(("node", "message"), [
    (TakesUndeclared, "takes denoise, which no input declares"),
    (IgnoresDeclared, "declares a, which execute does not take"),
    (DeclaresContext, "declares an input named context"),
])
def test_execute_and_declaration_must_agree(node, message):
    with pytest.raises(TypeError, match=message):
        node.definition("tests")


def test_an_optional_input_needs_a_default():
    class NoDefault(Node):
        inputs = [Socket("b", "INT", optional=True)]
        outputs = [Output("INT")]

        def execute(self, b: int) -> tuple:
            return (b,)

    with pytest.raises(TypeError, match="needs a default for optional b"):
        NoDefault.definition("tests")


def test_a_broken_node_is_skipped_alone_and_the_rest_of_its_pack_loads(tmp_path):
    (tmp_path / "half.py").write_text(
        "from nodes.api import Int, Node, Output\n"
        "class Good(Node):\n"
        "    inputs = [Int('a', 1)]\n    outputs = [Output('INT')]\n"
        "    def execute(self, a):\n        return (a,)\n"
        "class Bad(Node):\n"
        "    inputs = [Int('a', 1)]\n    outputs = [Output('INT')]\n"
        "    def execute(self, a, extra=0):\n        return (a,)\n"
        "class RaisingV1:\n"
        "    @classmethod\n"
        "    def INPUT_TYPES(cls):\n        raise RuntimeError('needs a model list it cannot find')\n"
        "    RETURN_TYPES = ()\n    FUNCTION = 'run'\n"
        "ATELIER_NODES = [Good, Bad]\n"
        "NODE_CLASS_MAPPINGS = {'RaisingV1': RaisingV1}\n")
    registry = Registry()
    load_plugins(registry, [tmp_path])
    assert "Good" in registry and "Bad" not in registry and "RaisingV1" not in registry
    failures = {failure.node: failure.error for failure in registry.failures}
    assert set(failures) == {"Bad", "RaisingV1"}
    assert "extra, which no input declares" in failures["Bad"] and "cannot find" in failures["RaisingV1"]


def test_prestartup_scripts_run_before_any_plugin_is_imported(tmp_path):
    for name in ("a_pack", "b_pack"):
        (tmp_path / name).mkdir()
    (tmp_path / "a_pack" / "__init__.py").write_text(
        "import os\n"
        "assert os.environ.get('B_PACK_PRESTARTUP') == 'ran'\n"  # b_pack's script ran before a_pack's import
        "from nodes.api import Int, Node, Output\n"
        "class A(Node):\n    inputs = [Int('a', 1)]\n    outputs = [Output('INT')]\n"
        "    def execute(self, a):\n        return (a,)\n"
        "ATELIER_NODES = [A]\n")
    (tmp_path / "b_pack" / "__init__.py").write_text("NODE_CLASS_MAPPINGS = {}\n")
    (tmp_path / "b_pack" / "prestartup_script.py").write_text(
        "import os\nos.environ['B_PACK_PRESTARTUP'] = 'ran'\n")
    (tmp_path / "c_pack").mkdir()
    (tmp_path / "c_pack" / "__init__.py").write_text("NODE_CLASS_MAPPINGS = {}\n")
    (tmp_path / "c_pack" / "prestartup_script.py").write_text("raise RuntimeError('no GPU driver')\n")
    registry = Registry()
    try:
        load_plugins(registry, [tmp_path])
    finally:
        os.environ.pop("B_PACK_PRESTARTUP", None)
    assert "A" in registry
    assert [failure.module for failure in registry.failures if "prestartup" in failure.error] == ["c_pack"]
