"""The layering rules of docs/architecture.md, checked on the source: who may import whom, and no torch at start."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
FORBIDDEN = {  # package -> top-level packages its modules may not import
    "core": {"execution", "nodes", "engine", "runtime", "httpapi", "server", "compat", "torch"},
    "execution": {"nodes", "engine", "runtime", "httpapi", "server", "compat", "torch"},
    "nodes": {"execution", "runtime", "httpapi", "server"},
    "engine": {"core", "execution", "nodes", "runtime", "httpapi", "server", "compat"},
    "runtime": {"httpapi", "server"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level names a module imports when it runs, anywhere (also inside functions); imports for type checkers
    only (``if TYPE_CHECKING:``) do not count."""
    names: set[str] = set()
    pending: list[ast.AST] = [ast.parse(path.read_text())]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        pending.extend(ast.iter_child_nodes(node))
    return names


def test_each_layer_imports_only_what_it_may():
    broken = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            bad = imported_packages(path) & forbidden
            if bad:
                broken.append(f"{path.relative_to(ROOT)} imports {', '.join(sorted(bad))}")
    assert not broken, "\n".join(broken)


def test_listing_every_node_imports_no_heavy_library():
    """The server answers /object_info without torch: node modules import it when a node first runs."""
    script = (
        "import sys; from pathlib import Path\n"
        "from core.folders import Folders; from core.registry import Registry\n"
        "from nodes.builtin import builtin_definitions\n"
        "registry = Registry(); registry.add_all(builtin_definitions(), builtin=True)\n"
        "registry.object_info(Folders.under(Path('/nonexistent')))\n"
        "print(sorted(m for m in ('torch', 'PIL', 'numpy', 'transformers', 'safetensors') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_the_torch_free_name_lists_match_what_is_implemented():
    from engine.sampling.model_sampling import ModelSamplingDiscrete
    from engine.sampling.names import SAMPLER_NAMES, SCHEDULER_NAMES
    from engine.sampling.registry import IMPLEMENTED
    from engine.sampling.schedulers import get_sigmas

    assert list(IMPLEMENTED) == SAMPLER_NAMES  # every name offered has its function, in ComfyUI's order
    for name in SCHEDULER_NAMES:
        assert len(get_sigmas(ModelSamplingDiscrete(), name, 4)) == 5, name
