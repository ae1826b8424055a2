"""Atelier's entry point: ``python server.py`` serves the editor and the API on http://127.0.0.1:8188."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent


def __getattr__(name: str) -> Any:
    """ComfyUI's ``server`` names for plug-ins (``from server import PromptServer``), from ``compat.server_view``."""
    if name.startswith("__"):
        raise AttributeError(name)
    from compat import server_view

    try:
        return getattr(server_view, name)
    except AttributeError:
        raise AttributeError(f"module 'server' has no attribute {name!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Atelier: a node-graph workshop for generative image models.")
    parser.add_argument("--listen", default="127.0.0.1", nargs="?", const="0.0.0.0",
                        help="address to listen on (default 127.0.0.1; bare --listen means all interfaces)")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--cpu", action="store_true", help="run every model on the CPU")
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--input-dir", type=Path, default=ROOT / "input")
    parser.add_argument("--output-dir", type=Path, default=ROOT / "output")
    parser.add_argument("--temp-dir", type=Path, default=ROOT / "temp")
    parser.add_argument("--user-dir", type=Path, default=ROOT / "user")
    parser.add_argument("--custom-nodes-dir", type=Path, action="append", default=None,
                        help="folder of plug-ins (repeatable; default ./custom_nodes)")
    parser.add_argument("--extra-model-paths-config", type=Path, action="append", default=[],
                        help="extra_model_paths.yaml files (./extra_model_paths.yaml is read when present)")
    parser.add_argument("--cache-ram", type=float, default=4.0,
                        help="GB of loaded models and node outputs kept between prompts (the latest prompt's "
                             "outputs always stay)")
    parser.add_argument("--max-upload-size", type=float, default=100, help="largest upload in MB")
    parser.add_argument("--queue-workflow", type=Path, default=None,
                        help="queue this UI- or API-format workflow once the server is up")
    parser.add_argument("--front-end", choices=("atelier", "comfyui"), default="atelier",
                        help="the web app served at /: Atelier's editor (default), or ComfyUI's own web app from "
                             "the installed comfyui-frontend-package (pip install 'atelier[comfyui-frontend]')")
    parser.add_argument("--front-end-root", type=Path, default=None,
                        help="serve this folder's web app at / instead (any build of ComfyUI's web app)")
    parser.add_argument("--workers", type=int, default=0, metavar="N",
                        help="run prompts in N worker processes, one per GPU when there are several (default: in "
                             "the server process); with --ray, the number of Ray actors")
    parser.add_argument("--ray", default=None, metavar="ADDRESS",
                        help="run prompts in Ray actors, one per GPU: 'local' starts a cluster on this machine, "
                             "'auto' or HOST:6379 joins the one `ray start --head` made (pip install 'atelier[ray]')")
    parser.add_argument("--shared-output", action="store_true",
                        help="Ray workers on other machines write into the same output folder (a shared "
                             "filesystem) instead of sending their files to the server")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def build_runtime(args: argparse.Namespace):
    """The running system for these command-line arguments (``runtime.build_runtime`` wires it)."""
    from core.folders import Folders
    from runtime import Settings
    from runtime import build_runtime as build

    folders = Folders(args.models_dir, args.input_dir, args.output_dir, args.temp_dir, args.user_dir)
    configs = list(args.extra_model_paths_config)
    if (ROOT / "extra_model_paths.yaml").is_file():
        configs.insert(0, ROOT / "extra_model_paths.yaml")
    for config in configs:
        folders.load_extra_model_paths(config)
    settings = Settings(folders=folders,
                        custom_node_dirs=args.custom_nodes_dir or [ROOT / "custom_nodes"],
                        cache_bytes=int(args.cache_ram * (1 << 30)),
                        max_upload_bytes=int(args.max_upload_size * (1 << 20)),
                        cpu_only=args.cpu,
                        front_end_root=front_end_root(args),
                        workers=max(0, args.workers),
                        ray_address=ray_address(args.ray),
                        shared_output=args.shared_output)
    return build(settings)


class RayMissing(SystemExit):
    """--ray was given but Ray is not installed; the server does not start."""


def ray_address(address: str | None) -> str | None:
    if address is None:
        return None
    try:
        import ray  # noqa: F401
    except ImportError:
        raise RayMissing("--ray runs prompts on a Ray cluster, and Ray is not installed. Install it with "
                         "`pip install 'atelier[ray]'` (in a checkout: `.venv/bin/pip install 'ray>=2.40,<3'`)."
                         ) from None
    return address


class FrontEndMissing(SystemExit):
    """The web app asked for is not there; the server does not start (the message says how to get it)."""


def front_end_root(args: argparse.Namespace) -> Path | None:
    """The folder of the web app to serve instead of Atelier's editor, or None for the editor."""
    if args.front_end_root is not None:
        root = args.front_end_root.resolve()
        if not (root / "index.html").is_file():
            raise FrontEndMissing(f"--front-end-root {root}: no index.html there (give the folder of a built web app)")
        return root
    if args.front_end == "atelier":
        return None
    try:
        import comfyui_frontend_package
    except ImportError:
        raise FrontEndMissing(
            "--front-end comfyui serves ComfyUI's web app from the PyPI package comfyui-frontend-package, which is "
            "not installed. Install it with `pip install 'atelier[comfyui-frontend]'` (in a checkout: "
            "`.venv/bin/pip install comfyui-frontend-package`), or give a build with --front-end-root DIR.") from None
    from importlib.resources import files

    return Path(str(files(comfyui_frontend_package) / "static"))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from httpapi.app import create_app
    from httpapi.startup import queue_on_start

    runtime = build_runtime(args)
    app = create_app(runtime)
    if args.queue_workflow is not None:
        app.on_startup.append(lambda app: queue_on_start(runtime, args.queue_workflow))
    host = args.listen
    print(f"Atelier is running at http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{args.port}",
          file=sys.stderr)
    web.run_app(app, host=host.split(","), port=args.port, print=None)


if __name__ == "__main__":
    main()
