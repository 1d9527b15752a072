"""`cnnkit explore`: how long each click waits for its answer, on CPU, through HTTP.

    python benchmarks/explore_latency.py [CHECKPOINT] [--repeats 5]

Serves the page in this process (the command's server, loopback), then times each API
request end to end with urllib: the request, the library call, JSON encoding, the
response. Default model: a convnet (16-32-64, the docs' screenshot network) on the
CIFAR-10 copy in ../shared/data, untrained (the timings do not depend on the weights).
Target: every click under 0.5 s (issue: "responses under 0.5 s on CPU for a CIFAR-sized
network"); maximise is a button of its own that says it takes a few seconds.
Prints a Markdown table: median of `repeats` after one warm-up call, and the ratio to 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.request
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", nargs="?", default="convnet")
    ap.add_argument("--dataset", default=None)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    checkpoint = Path(args.model).exists()
    dataset = args.dataset or (None if checkpoint else f"folder:{SHARED / 'cifar10'}")
    options = {"widths": (16, 32, 64)} if args.model == "convnet" else None  # the docs' screenshot network
    from cnnkit.explorer.server import Server
    from cnnkit.explorer.session import Explorer

    t = time.perf_counter()
    explorer = Explorer(args.model, dataset=dataset, device="cpu", options=options)  # what cnnkit.explore serves
    explorer.start_scoring()
    server = Server(explorer, port=0).start()
    start = time.perf_counter() - t
    net = json.loads(_get(server.url + "api/network"))
    convs = [r["name"] for r in net["layers"] if r["kind"] == "conv"]
    pool = next(r["name"] for r in net["layers"] if r["kind"] == "pool")
    linear = next((r["name"] for r in net["layers"] if r["kind"] == "linear"), None)
    image = sorted((SHARED / "cifar10" / "test" / "cat").glob("*.jpg"))[0].read_bytes()
    clicks = {
        "page load: network (summary)": "api/network",
        "page load: inputs (10 test images)": "api/inputs",
        "pick an input: prediction": "api/predict?input=3",
        f"click the first conv ({convs[0]}): maps, filters, arithmetic": f"api/layer?name={convs[0]}&input=3",
        f"click the last conv ({convs[-1]})": f"api/layer?name={convs[-1]}&input=3",
        f"click a pool ({pool})": f"api/layer?name={pool}&input=3",
        f"click a linear layer ({linear})": f"api/layer?name={linear}&input=3",
        f"click a channel ({convs[1]} 5), its layer's pass done: map + top test images": f"api/channel?layer={convs[1]}&channel=5&input=3",
        "attribution: Grad-CAM": "api/attribution?input=3&method=gradcam",
        "attribution: saliency": "api/attribution?input=3&method=saliency",
        "attribution: guided backprop": "api/attribution?input=3&method=guided-backprop",
    }
    rows = []
    try:
        # a layer's drawing is kept after its first time: timed fresh, the cache emptied before each call
        drawn = [r["name"] for r in net["layers"] if r["drawn"]]
        rows.append((f"the arithmetic's drawing, first time for a layer (median of {len(drawn)} layers)",
                     statistics.median(_once(lambda n=n: _get(server.url + f"api/drawing?name={n}"), explorer._drawings) for n in drawn)))
        explorer._scores_done.wait()
        rows.append((f"in the background from start-up: one pass over {len(explorer.pool)} test images scores every layer's "
                     "channels (no click waits for it unless made in its first moments)", explorer.scores_seconds))
        for what, path in clicks.items():
            rows.append((what, _median(lambda p=path: _get(server.url + p), args.repeats)))
        rows.append(("drop a file (a CIFAR JPEG)", _median(lambda: _post(server.url + "api/upload?name=cat.jpg", image), args.repeats)))
        maxi = _median(lambda: _get(server.url + f"api/maximize?layer={convs[1]}&channel=5"), max(1, args.repeats // 2))
    finally:
        server.stop()
    print(f"model {args.model}{' (untrained)' if not checkpoint else ''}, data {dataset or 'the checkpoint own'}, "
          f"{torch.get_num_threads()} threads; server start (model + test images loaded) {start:.1f} s\n")
    print("| click | median | ratio to 0.5 s |\n|---|---|---|")
    for what, s in rows:
        print(f"| {what} | {s * 1000:.0f} ms | {s / 0.5:.2f} |")
    print(f"| what maximises it (button: 1 start, 64 steps) | {maxi:.2f} s | {maxi / 0.5:.1f} |")


def _median(call, repeats: int) -> float:
    call()  # warm-up: first-call imports (Captum, Pillow's GIF writer) are paid once per server
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _once(call, cache: dict) -> float:
    cache.clear()
    t = time.perf_counter()
    call()
    return time.perf_counter() - t


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read()


def _post(url: str, data: bytes) -> bytes:
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=120) as r:
        return r.read()


if __name__ == "__main__":
    main()
