"""Installs the pack's requirements with pip before anything loads, as some packs do. Here the command line only
asks pip for its version: nothing is installed."""

import subprocess
import sys

subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, check=False)
