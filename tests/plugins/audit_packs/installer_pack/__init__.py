"""A pack that runs a command at import to learn its own version (real packs ask git)."""

import subprocess
import sys

VERSION = subprocess.run([sys.executable, "-c", "print('1.0.0')"], capture_output=True, text=True).stdout.strip()


class InstallerVersion:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self):
        return (VERSION,)


NODE_CLASS_MAPPINGS = {"InstallerVersion": InstallerVersion}
