"""pytorch-fid's InceptionV3, built from a weights file on this machine (test and bench references only).

pytorch-fid takes its FID weights from torch hub's checkpoint cache, fetching them only when the cache lacks the
file. Pointing the cache at a folder that already holds the file makes it load that file from disk: nothing is
fetched, and a missing file is an error here, never a download.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from engine.metrics.inception import WEIGHTS_FILE


def pytorch_fid_inception(weights: Path, **options: object) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3([3], **options)`` with its FID weights read from ``weights`` (a local file)."""
    import pytorch_fid.inception as reference

    if not weights.is_file():
        raise FileNotFoundError(f"no FID Inception weights at {weights}")
    hub = Path(tempfile.mkdtemp(prefix="pytorch-fid-hub-"))
    previous = torch.hub.get_dir()
    try:
        (hub / "checkpoints").mkdir()
        (hub / "checkpoints" / WEIGHTS_FILE).symlink_to(weights.resolve())
        torch.hub.set_dir(str(hub))
        return reference.InceptionV3([3], **options).eval()
    finally:
        torch.hub.set_dir(previous)
        shutil.rmtree(hub, ignore_errors=True)
