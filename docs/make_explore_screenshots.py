"""The screenshots in docs/explore.md: the command itself serves the page, headless Chromium shoots it.

    cnnkit train convnet --dataset folder:../shared/data/cifar10 --epochs 2 --opt widths=16,32,64 --out runs/cifar-convnet
    cnnkit train unet --dataset segfolder:../shared/data/membrane --image-size 128 --epochs 9 --opt base_width=8 --opt depth=3 --out runs/membrane-unet
    python docs/make_explore_screenshots.py runs/cifar-convnet/best.pt [runs/membrane-unet/best.pt]

Each shot is a URL whose parameters script the clicks (explore.js reads them):
?input=I&layer=NAME&channel=C&method=M&maximize=1&focus=ELEMENT_ID.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

SHOTS = {  # file -> (URL parameters, window size)
    "explore-conv.png": ("?input=3&layer=features.conv1", "1400,1500"),
    "explore-channel.png": ("?input=3&layer=features.conv2&channel=5&maximize=1&focus=channel-panel", "1400,1000"),
    "explore-attribution.png": ("?input=3&layer=features.conv3&method=guided-backprop&focus=attribution-panel", "1400,800"),
}
SEGMENTATION_SHOTS = {"explore-segmentation.png": ("?input=0&focus=prediction-panel", "1400,900")}


def main(checkpoint: str, shots: dict, out: Path = Path(__file__).parent / "img", extra: tuple = ()) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        sys.exit("no Chromium found (Debian: apt-get install chromium)")
    proc = subprocess.Popen([sys.executable, "-m", "cnnkit", "explore", checkpoint, "--port", "0", "--no-browser", *extra],
                            stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()  # "loading ..."
        url = re.search(r"http://\S+/", proc.stdout.readline()).group(0)
        with tempfile.TemporaryDirectory() as profile:
            for name, (query, size) in shots.items():
                subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}",
                                "--virtual-time-budget=60000", f"--window-size={size}", f"--screenshot={out / name}", url + query],
                               capture_output=True, timeout=300, check=True)
                print(out / name)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)


if __name__ == "__main__":
    main(sys.argv[1], SHOTS, extra=("--device", "cpu"))
    if len(sys.argv) > 2:
        main(sys.argv[2], SEGMENTATION_SHOTS, extra=("--device", "cpu"))
