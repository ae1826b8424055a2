"""How many public ComfyUI workflows Atelier converts and validates with no problem other than model files, and
which node types they still lack (issues 13 and 15). Prints figures; not a test; downloads nothing.

It reads the workflows from folders given on the command line. Get them once, outside the repository:

    mkdir -p /tmp/wf && cd /tmp/wf
    pip download --no-deps comfyui-workflow-templates-json    # the JSON files of comfyui-workflow-templates
    unzip -q -o comfyui_workflow_templates_json-*.whl -d templates
    git clone --depth 1 https://github.com/comfyanonymous/ComfyUI_examples

    .venv/bin/python bench/bench_shared_workflows.py --examples /tmp/wf/ComfyUI_examples --templates /tmp/wf/templates

``comfyui-workflow-templates`` itself is only a meta-package: its templates are in ``-json`` (the media packages
hold thumbnails). Examples are embedded in PNGs (the ``workflow`` text chunk) and animated WebPs (an EXIF value
``workflow:{...}``), a few are ``.json``; a workflow saved both as ``x.json`` and ``x.webp`` in one folder, or twice
with identical nodes and links, counts once.

The runtime is built as ``server.py`` builds it (built-in nodes and the plug-ins of ``custom_nodes/``), on empty
temporary folders. Each workflow goes through the server's conversion (``execution.workflows.convert_workflow``)
and validation (``execution.validation.validate_prompt``). The rules:

- **Converts with no problem other than model files**: the conversion succeeds and every validation error is a
  value not in a model list (a choice list that shows a probe file put in a model folder). A missing input image
  (a choice list of the input folder, or Load Image's own check of it) is counted apart, in a second figure.
- **Uses only node types Atelier offers**: every node of the file, inside subgraphs and group nodes and muted
  ones too, is a type of the registry or one the editor draws itself (Note, Reroute, PrimitiveNode, ...).
- **SD1.x/SDXL** (SD2.x included, as Atelier runs it): the workflow loads a checkpoint (``CheckpointLoaderSimple``,
  ``CheckpointLoader`` or ``unCLIPCheckpointLoader``) and no model file it names belongs to another family
  (``OTHER_FAMILIES``: Flux, SD3, Stable Cascade, SVD, video and audio models, ...). ``--list`` shows each verdict.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from execution.validation import validate_prompt  # noqa: E402
from execution.workflows import WorkflowError, convert_workflow, is_ui_workflow  # noqa: E402
from execution.workflows.convert import VIRTUAL_NODES  # noqa: E402
from execution.workflows.group_nodes import group_name  # noqa: E402
from nodes.png import png_text_chunks  # noqa: E402

MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft", ".pt2", ".onnx")
CHECKPOINT_LOADERS = {"CheckpointLoaderSimple", "CheckpointLoader", "unCLIPCheckpointLoader"}
OTHER_FAMILIES = ("flux", "sd3", "cascade", "svd", "zero123", "aura_flow", "hunyuan", "ltx", "lumina", "netayume",
                  "mochi", "cosmos", "wan2", "wan_2", "qwen", "hidream", "chroma", "omnigen", "t5xxl", "umt5", "llava",
                  "llama", "mistral", "gemma", "kandinsky", "z_image", "yue2", "sam3", "sdpose", "ace_step",
                  "stable_audio")
PROBE = "zz-atelier-bench-probe"  # a file put in every model folder and the input folder, to tell lists apart
SD, OTHER = "SD1.x/SDXL", "other"


@dataclass
class Workflow:
    source: str  # "examples" or "templates"
    name: str  # path inside its folder
    data: dict[str, Any]


@dataclass
class Verdict:
    workflow: Workflow
    family: str
    missing_types: set[str]  # node types of the file that neither the registry nor the editor offers
    conversion_error: str | None = None
    problems: list[str] = field(default_factory=list)  # validation errors other than missing files
    missing_models: int = 0
    missing_inputs: int = 0
    warnings: list[str] = field(default_factory=list)  # the conversion's, node ids left out

    @property
    def converts(self) -> bool:
        """Conversion succeeds and validation finds nothing but model files missing."""
        return self.conversion_error is None and not self.problems and not self.missing_inputs

    @property
    def conversion_ok(self) -> bool:
        """The conversion itself succeeds: no refusal and no subgraph or group node left unexpanded."""
        return self.conversion_error is None and not any("left unexpanded" in p for p in self.problems)

    @property
    def converts_with_inputs(self) -> bool:
        return self.conversion_error is None and not self.problems


# Reading --------------------------------------------------------------------------------------------------------


def embedded_workflow(path: Path) -> Any:
    """The UI workflow a ``.json``, ``.png`` or ``.webp`` file holds, or None."""
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    with Image.open(path) as image:
        text = png_text_chunks(image).get("workflow")
        if text is None:  # ComfyUI's animated WebP: EXIF values "workflow:{...}"
            values = [value for value in image.getexif().values() if isinstance(value, str)]
            text = next((value.split(":", 1)[1] for value in values if value.startswith("workflow:")), None)
    return None if text is None else json.loads(text)


def read_workflows(source: str, folder: Path) -> tuple[list[Workflow], int]:
    """UI workflows under ``folder`` (one per folder and file stem, identical graphs once), and how many files
    held none."""
    found: dict[tuple[Path, str], Workflow] = {}
    seen: set[str] = set()
    empty = 0
    files = sorted(folder.rglob("*"), key=lambda path: (path.suffix != ".json", str(path)))
    for path in files:
        if path.suffix.lower() not in (".json", ".png", ".webp") or not path.is_file():
            continue
        try:
            data = embedded_workflow(path)
        except (OSError, ValueError):
            data = None
        key = (path.parent, path.stem)
        if not is_ui_workflow(data):
            empty += 1
            continue
        fingerprint = hashlib.sha256(json.dumps([data["nodes"], data["links"]], sort_keys=True).encode()).hexdigest()
        if key in found or fingerprint in seen:
            continue
        seen.add(fingerprint)
        found[key] = Workflow(source, path.relative_to(folder).as_posix(), data)
    return sorted(found.values(), key=lambda workflow: workflow.name), empty


# What a workflow uses -------------------------------------------------------------------------------------------


def graphs(workflow: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The workflow and every graph defined in it: subgraphs (nested too) and legacy group nodes."""
    yield workflow
    for subgraph in (workflow.get("definitions") or {}).get("subgraphs") or []:
        yield from graphs(subgraph)
    for group in ((workflow.get("extra") or {}).get("groupNodes") or {}).values():
        if isinstance(group, dict):
            yield group


def used_node_types(workflow: dict[str, Any]) -> set[str]:
    """Node types of every node, not counting instances of the file's own subgraphs and group nodes."""
    subgraph_ids = {graph.get("id") for graph in graphs(workflow) if graph is not workflow and "id" in graph}
    found = set()
    for graph in graphs(workflow):
        for node in graph.get("nodes") or []:
            kind = node.get("type")
            if not isinstance(kind, str) or kind in subgraph_ids \
                    or group_name(kind, _group_nodes(workflow)) is not None:
                continue
            found.add(kind)
    return found


def _group_nodes(workflow: dict[str, Any]) -> dict[str, Any]:
    return (workflow.get("extra") or {}).get("groupNodes") or {}


def model_names(workflow: dict[str, Any]) -> set[str]:
    """Model file names among the widget values of every node (lowercase)."""
    names = set()
    for graph in graphs(workflow):
        for node in graph.get("nodes") or []:
            values = node.get("widgets_values")
            values = values.values() if isinstance(values, dict) else values if isinstance(values, list) else []
            names |= {value.lower() for value in values if isinstance(value, str)
                      and value.lower().endswith(MODEL_EXTENSIONS)}
    return names


def family(workflow: dict[str, Any]) -> str:
    if not used_node_types(workflow) & CHECKPOINT_LOADERS:
        return OTHER
    names = [name.replace("-", "_") for name in model_names(workflow)]
    other = any(marker in name for name in names for marker in OTHER_FAMILIES)
    return OTHER if other else SD


def index_sd_templates(folder: Path) -> set[str]:
    """Templates the package's own index tags SD1.x, SD2.x or SDXL (a cross-check of ``family``)."""
    tagged = set()
    for index in folder.rglob("index.json"):
        for category in json.loads(index.read_text(encoding="utf-8")):
            for template in category.get("templates") or []:
                tags = " ".join(template.get("models") or []).lower().replace(" ", "")
                if any(tag in tags for tag in ("sd1", "sd2", "sdxl")):
                    tagged.add(template["name"])
    return tagged


# Converting and validating --------------------------------------------------------------------------------------


class Checker:
    """A runtime built as the server builds it, on empty folders with a probe file in each list's folder."""

    def __init__(self, base: Path) -> None:
        import server

        args = server.parse_args(["--models-dir", str(base / "models"), "--input-dir", str(base / "input"),
                                  "--output-dir", str(base / "output"), "--temp-dir", str(base / "temp"),
                                  "--user-dir", str(base / "user")])
        self.runtime = server.build_runtime(args)
        self.folders = self.runtime.folders
        self._place_probes(base / "probes")
        self.object_info = self.runtime.registry.object_info(self.folders)
        self.offered = set(self.object_info) | set(VIRTUAL_NODES)

    def _place_probes(self, probes: Path) -> None:
        """A probe file in a folder of each model kind (one of our own, never a folder of extra_model_paths.yaml)
        and in the input folder."""
        for kind in self.folders.model_kind_names():
            folder = probes / kind
            folder.mkdir(parents=True)
            self.folders.add_model_dir(kind, folder)
            for extension in self.folders.model_extensions(kind) or (".safetensors",):
                (folder / f"{PROBE}{extension}").touch()
        (self.folders.input_dir / f"{PROBE}.png").write_bytes(b"")

    def close(self) -> None:
        self.runtime.close()

    def check(self, workflow: Workflow) -> Verdict:
        verdict = Verdict(workflow, family(workflow.data), used_node_types(workflow.data) - self.offered)
        try:
            conversion = convert_workflow(workflow.data, self.object_info)
        except WorkflowError as exc:
            verdict.conversion_error = f"refused: {exc}"
            return verdict
        except Exception as exc:  # a crash of the conversion is a finding, not a reason to stop
            verdict.conversion_error = f"crashed: {type(exc).__name__}: {exc}"
            return verdict
        verdict.warnings = [re.sub(r" #[\w:]+", "", warning) for warning in conversion.warnings]
        if not conversion.prompt:
            verdict.problems.append("empty prompt (no executable node)")
            return verdict
        self._validate(verdict, conversion.prompt)
        return verdict

    def _validate(self, verdict: Verdict, prompt: dict[str, Any]) -> None:
        result = validate_prompt(self.runtime.registry, self.folders, prompt)
        for node_id, entry in result.node_errors.items():
            for problem in entry["errors"]:
                self._classify(verdict, prompt.get(node_id) or {}, problem)
        if not result.node_errors and result.error is not None:
            verdict.problems.append(f"{result.error['type']}: {result.error['message']}")

    def _classify(self, verdict: Verdict, node: dict[str, Any], problem: dict[str, Any]) -> None:
        class_type = str(node.get("class_type"))
        input_name = problem["extra_info"].get("input_name")
        if problem["type"] == "missing_node_type":
            verdict.problems.append(f"missing node type: {_unknown_kind(verdict.workflow.data, class_type)}")
        elif problem["type"] == "value_not_in_list" and self._lists(class_type, input_name, "model"):
            verdict.missing_models += 1
        elif problem["type"] == "value_not_in_list" and self._lists(class_type, input_name, "input"):
            verdict.missing_inputs += 1
        elif problem["type"] == "custom_validation_failed" and self._input_file_missing(node):
            verdict.missing_inputs += 1  # LoadImage's own check ("Invalid image file"), as in ComfyUI
        else:
            where = f"{class_type}.{input_name}" if input_name else class_type
            verdict.problems.append(f"{problem['type']}: {where}")

    def _input_file_missing(self, node: dict[str, Any]) -> bool:
        """Whether a constant of the node names a file its input-folder list lacks."""
        definition = self.runtime.registry.get(str(node.get("class_type")))
        for spec in definition.inputs if definition else []:
            value = (node.get("inputs") or {}).get(spec.name)
            if isinstance(value, str) and self._lists(definition.name, spec.name, "input"):
                return value not in spec.current_choices(self.folders)
        return False

    def _lists(self, class_type: str, input_name: str | None, what: str) -> bool:
        """Whether the input's choices show the probe of a model folder ("model") or the input folder ("input")."""
        definition = self.runtime.registry.get(class_type)
        spec = next((spec for spec in definition.inputs if spec.name == input_name), None) if definition else None
        if spec is None:
            return False
        probes = {choice for choice in spec.current_choices(self.folders) if str(choice).startswith(PROBE)}
        return f"{PROBE}.png" in probes if what == "input" else bool(probes - {f"{PROBE}.png"})


def _unknown_kind(workflow: dict[str, Any], class_type: str) -> str:
    """What an unknown class_type in the prompt is: a subgraph or group node the conversion left unexpanded, or a
    node type the server lacks."""
    subgraph_ids = {graph.get("id") for graph in graphs(workflow) if graph is not workflow}
    if class_type in subgraph_ids:
        return "(a subgraph instance left unexpanded)"
    if group_name(class_type, _group_nodes(workflow)) is not None:
        return "(a group node left unexpanded)"
    return class_type


# Report ---------------------------------------------------------------------------------------------------------


def reason(verdict: Verdict) -> str:
    """The first thing that stops a workflow, for grouping."""
    if verdict.conversion_error is not None:
        return "conversion " + verdict.conversion_error.split(":", 1)[0]
    if any(problem.startswith("missing node type") for problem in verdict.problems):
        unexpanded = [p for p in verdict.problems if "left unexpanded" in p]
        return unexpanded[0].split(": ", 1)[1] if unexpanded else "missing node types"
    if verdict.problems:
        return "validation: " + sorted(verdict.problems)[0]
    return "input image not in the input folder"


def print_report(verdicts: list[Verdict], empty: dict[str, int], offered: int, listing: bool) -> None:
    print(f"Node types offered: {offered} (registry and editor-only types)")
    for source, count in empty.items():
        print(f"{source}: {count} files without a UI workflow skipped")
    print()
    print(f"{'source':<10} {'class':<11} {'workflows':>9} {'conversion':>10} {'converts':>9} {'+inputs':>8} "
          f"{'only offered types':>19}")
    for source in sorted({verdict.workflow.source for verdict in verdicts}):
        for kind in (SD, OTHER):
            group = [v for v in verdicts if v.workflow.source == source and v.family == kind]
            print(f"{source:<10} {kind:<11} {len(group):>9} {sum(v.conversion_ok for v in group):>10} "
                  f"{sum(v.converts for v in group):>9} "
                  f"{sum(v.converts_with_inputs for v in group):>8} {sum(not v.missing_types for v in group):>19}")
    print("conversion: the conversion succeeds (nothing refused or left unexpanded); converts: and validation finds "
          "only model files missing; +inputs: or input images too")
    for kind in (SD, OTHER):
        failing = [v for v in verdicts if v.family == kind and not v.converts]
        print(f"\n{kind}: why {len(failing)} workflows do not convert cleanly (first reason of each)")
        for text, count in Counter(reason(v) for v in failing).most_common():
            print(f"  {count:4}  {text}")
        print_problems(kind, failing)
        print_warnings(kind, [v for v in verdicts if v.family == kind])
        print_missing_types(kind, [v for v in verdicts if v.family == kind])
    if listing:
        print_listing(verdicts)


def print_index_check(verdicts: list[Verdict], tagged: set[str]) -> None:
    ruled = {Path(v.workflow.name).stem for v in verdicts if v.workflow.source == "templates" and v.family == SD}
    print(f"\nCross-check: the templates' index tags {len(tagged)} SD1.x/SD2.x/SDXL; the rule finds {len(ruled)}; "
          f"only the index: {sorted(tagged - ruled) or '-'}; only the rule: {sorted(ruled - tagged) or '-'}")


def print_problems(kind: str, failing: list[Verdict]) -> None:
    counts = Counter(problem for v in failing for problem in set(v.problems)
                     if not problem.startswith("missing node type"))
    counts.update(v.conversion_error for v in failing if v.conversion_error)
    if counts:
        print(f"{kind}: other problems (workflows with each)")
        for text, count in counts.most_common(25):
            print(f"  {count:4}  {text[:150]}")


def print_warnings(kind: str, verdicts: list[Verdict]) -> None:
    counts = Counter(warning for v in verdicts for warning in set(v.warnings))
    print(f"{kind}: {sum(bool(v.warnings) for v in verdicts)} workflows convert with warnings (workflows with each)")
    for text, count in counts.most_common(10):
        print(f"  {count:4}  {text[:150]}")


def print_missing_types(kind: str, verdicts: list[Verdict]) -> None:
    counts = Counter(node_type for v in verdicts for node_type in v.missing_types)
    print(f"{kind}: {len(counts)} missing node types, by workflows needing them")
    for node_type, count in counts.most_common(40 if kind == SD else 25):
        print(f"  {count:4}  {node_type}")
    if len(counts) > (40 if kind == SD else 25):
        print(f"  ... and {len(counts) - (40 if kind == SD else 25)} more")


def print_listing(verdicts: list[Verdict]) -> None:
    print("\nEach workflow: source, class, verdict, models missing, node types missing")
    for v in verdicts:
        state = "OK" if v.converts else "OK+inputs" if v.converts_with_inputs else reason(v)
        print(f"  {v.workflow.source:<9} {v.family:<10} {v.workflow.name}: {state}; models {v.missing_models}; "
              f"missing types {sorted(v.missing_types) or '-'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=Path, help="a clone of github.com/comfyanonymous/ComfyUI_examples")
    parser.add_argument("--templates", type=Path, help="the unpacked comfyui-workflow-templates-json wheel")
    parser.add_argument("--list", action="store_true", help="print each workflow's verdict")
    args = parser.parse_args(argv)
    sources = {name: folder for name, folder in (("examples", args.examples), ("templates", args.templates))
               if folder is not None}
    if not sources:
        parser.error("give --examples and/or --templates (see the module docstring for how to get them)")
    workflows: list[Workflow] = []
    empty = {}
    for name, folder in sources.items():
        found, empty[name] = read_workflows(name, folder)
        workflows += found
    with tempfile.TemporaryDirectory() as base:
        checker = Checker(Path(base))
        try:
            verdicts = [checker.check(workflow) for workflow in workflows]
        finally:
            checker.close()
    print_report(verdicts, empty, len(checker.offered), args.list)
    if args.templates is not None:
        print_index_check(verdicts, index_sd_templates(args.templates))


if __name__ == "__main__":
    main()
