"""How long `cnnkit draw` takes to write a 100-frame GIF, against redrawing each frame with matplotlib.

The case: conv --in 12 --k 3 --p 0 (10x10 = 100 output cells, one frame each). cnnkit
draws the static grids once with Pillow and only the changing cells per frame. The
baseline is what a student would write: one matplotlib figure per frame (every cell a
Rectangle patch, the same labels), rendered to an image and written with Pillow.

    python benchmarks/draw_speed.py [--repeats 5]

Prints the median wall time of each (and of `cnnkit draw` as a whole command, start-up
included) and the ratio.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cnnkit_gif(path: Path) -> int:
    from cnnkit.drawing.layer import draw_layer

    return draw_layer("conv", path, "12", "3")["frames_drawn"]


def matplotlib_gif(path: Path) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from PIL import Image

    n, k, out = 12, 3, 10
    frames = []
    for t in range(out * out):
        i, j = divmod(t, out)
        fig, (a, b) = plt.subplots(1, 2, figsize=(8, 4.5))
        for ax, size in ((a, n), (b, out)):
            ax.set_xlim(0, size)
            ax.set_ylim(size, 0)
            ax.set_aspect("equal")
            ax.axis("off")
            for r in range(size):
                for c in range(size):
                    ax.add_patch(Rectangle((c, r), 1, 1, facecolor="white", edgecolor="#888888"))
        for r in range(i, i + k):
            for c in range(j, j + k):
                a.add_patch(Rectangle((c, r), 1, 1, facecolor="#E69F00", edgecolor="#222222"))
        for s in range(t + 1):
            r, c = divmod(s, out)
            b.add_patch(Rectangle((c, r), 1, 1, facecolor="#0072B2" if s == t else "#56B4E9", edgecolor="#888888"))
        fig.suptitle(f"step {t + 1} of {out * out}: output [{i}][{j}]")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)
        plt.close(fig)
        frames.append(Image.open(buf).convert("P"))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=500, loop=0)
    return len(frames)


def command(path: Path) -> None:
    subprocess.run([sys.executable, "-m", "cnnkit", "draw", "conv", "--in", "12", "--k", "3", "--out", str(path)],
                   check=True, capture_output=True)


def timed(fn, path: Path) -> float:
    start = time.perf_counter()
    fn(path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        assert cnnkit_gif(tmp / "warm.gif") == 100  # fonts cached, imports done
        ours = [timed(cnnkit_gif, tmp / "a.gif") for _ in range(args.repeats)]
        cmd = [timed(command, tmp / "c.gif") for _ in range(args.repeats)]
        base = [timed(matplotlib_gif, tmp / "b.gif") for _ in range(max(1, args.repeats // 2))]
        from PIL import Image

        with Image.open(tmp / "a.gif") as im:
            frames = im.n_frames
    m_ours, m_cmd, m_base = statistics.median(ours), statistics.median(cmd), statistics.median(base)
    print(f"100-frame GIF (conv --in 12 --k 3, {frames} frames)")
    print(f"cnnkit draw (library call):     median {m_ours:.3f} s over {len(ours)} runs  {[round(v, 3) for v in ours]}")
    print(f"cnnkit draw (whole command):    median {m_cmd:.3f} s over {len(cmd)} runs  {[round(v, 3) for v in cmd]}")
    print(f"matplotlib, a figure per frame: median {m_base:.3f} s over {len(base)} runs  {[round(v, 3) for v in base]}")
    print(f"speed-up (library call vs matplotlib): {m_base / m_ours:.1f}x")


if __name__ == "__main__":
    main()
