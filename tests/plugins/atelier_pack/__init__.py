"""A plug-in written against Atelier's typed node API, with a web directory."""

from nodes.api import Int, Node, Output

WEB_DIRECTORY = "./js"


class TestDouble(Node):
    """Doubles a number."""

    category = "testing"
    inputs = [Int("value", 1, min=-1000, max=1000)]
    outputs = [Output("INT", "doubled")]

    def execute(self, value):
        return (value * 2,)


ATELIER_NODES = [TestDouble]
