"""Constants, arithmetic and string nodes."""

from __future__ import annotations

import math
import operator
import re

from nodes.api import Boolean, Combo, Float, Int, Node, Output, String

INT_LIMIT = 2**63 - 1

_INT_OPS = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
    "divide": operator.floordiv, "modulo": operator.mod, "power": operator.pow, "min": min, "max": max,
}
_FLOAT_OPS = {
    "add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
    "divide": operator.truediv, "modulo": math.fmod, "power": math.pow, "min": min, "max": max,
}


class PrimitiveInt(Node):
    display_name = "Int"
    category = "utils/primitive"
    inputs = [Int("value", 0, min=-INT_LIMIT, max=INT_LIMIT, control_after_generate=True)]
    outputs = [Output("INT")]

    def execute(self, value: int) -> tuple:
        return (value,)


class PrimitiveFloat(Node):
    display_name = "Float"
    category = "utils/primitive"
    inputs = [Float("value", 0.0, min=-1e300, max=1e300)]
    outputs = [Output("FLOAT")]

    def execute(self, value: float) -> tuple:
        return (value,)


class PrimitiveString(Node):
    display_name = "String"
    category = "utils/primitive"
    inputs = [String("value")]
    outputs = [Output("STRING")]

    def execute(self, value: str) -> tuple:
        return (value,)


class PrimitiveStringMultiline(Node):
    display_name = "String (Multiline)"
    category = "utils/primitive"
    inputs = [String("value", multiline=True)]
    outputs = [Output("STRING")]

    def execute(self, value: str) -> tuple:
        return (value,)


class PrimitiveBoolean(Node):
    display_name = "Boolean"
    category = "utils/primitive"
    inputs = [Boolean("value", False)]
    outputs = [Output("BOOLEAN")]

    def execute(self, value: bool) -> tuple:
        return (value,)


class IntMath(Node):
    """Integer arithmetic: a <op> b (division rounds down)."""

    display_name = "Int Math"
    category = "utils/math"
    inputs = [Int("a", 0, min=-INT_LIMIT, max=INT_LIMIT), Combo("operation", list(_INT_OPS)),
              Int("b", 1, min=-INT_LIMIT, max=INT_LIMIT)]
    outputs = [Output("INT")]

    def execute(self, a: int, operation: str, b: int) -> tuple:
        if operation in ("divide", "modulo") and b == 0:
            raise ZeroDivisionError(f"b is 0: cannot {operation} {a} by zero")
        return (int(_INT_OPS[operation](a, b)),)


class FloatMath(Node):
    """Floating-point arithmetic: a <op> b."""

    display_name = "Float Math"
    category = "utils/math"
    inputs = [Float("a", 0.0, min=-1e300, max=1e300, step=0.01), Combo("operation", list(_FLOAT_OPS)),
              Float("b", 1.0, min=-1e300, max=1e300, step=0.01)]
    outputs = [Output("FLOAT")]

    def execute(self, a: float, operation: str, b: float) -> tuple:
        if operation in ("divide", "modulo") and b == 0:
            raise ZeroDivisionError(f"b is 0: cannot {operation} {a} by zero")
        return (float(_FLOAT_OPS[operation](a, b)),)


class StringConcatenate(Node):
    display_name = "Concatenate"
    category = "utils/string"
    inputs = [String("string_a", multiline=True), String("string_b", multiline=True), String("delimiter")]
    outputs = [Output("STRING")]

    def execute(self, string_a: str, string_b: str, delimiter: str) -> tuple:
        return (delimiter.join((string_a, string_b)),)


class StringReplace(Node):
    display_name = "Replace"
    category = "utils/string"
    inputs = [String("string", multiline=True), String("find", multiline=True), String("replace", multiline=True),
              Boolean("regex", False)]
    outputs = [Output("STRING")]

    def execute(self, string: str, find: str, replace: str, regex: bool) -> tuple:
        return (re.sub(find, replace, string) if regex else string.replace(find, replace),)


class StringLength(Node):
    display_name = "Length"
    category = "utils/string"
    inputs = [String("string", multiline=True)]
    outputs = [Output("INT", "length")]

    def execute(self, string: str) -> tuple:
        return (len(string),)


class IntToString(Node):
    display_name = "Int to String"
    category = "utils/string"
    inputs = [Int("value", 0, min=-INT_LIMIT, max=INT_LIMIT, force_input=True)]
    outputs = [Output("STRING")]

    def execute(self, value: int) -> tuple:
        return (str(value),)


NODES = [PrimitiveInt, PrimitiveFloat, PrimitiveString, PrimitiveStringMultiline, PrimitiveBoolean, IntMath,
         FloatMath, StringConcatenate, StringReplace, StringLength, IntToString]
