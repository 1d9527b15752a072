"""What keying the tensor cache by file content costs on a warm start.

    python benchmarks/cache_fingerprint.py [--data ../shared/data/cifar10] [--repeats 5]

Measured in one run, medians over --repeats:
  * the old key (path, size, mtime per file: a stat each) -- the baseline;
  * the new key (path + every file's bytes, cnnkit.data.cache.fingerprint), both with
    every file read and hashed (first start, or after the files changed) and with the
    per-file hashes remembered by stat signature (every later start);
  * verifying the cache file's checksum after torch.load (cnnkit.data.cache.checksum);
  * a whole warm start, load_dataset("folder:..."), as training does it.
The first load_dataset call (decoding every image, writing the cache) is timed once.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

import torch

from cnnkit.data import folder
from cnnkit.data.cache import checksum, fingerprint
from cnnkit.data.catalog import DataOptions, load_dataset


def stat_fingerprint(files: list[Path], *options) -> str:
    """The previous key: identities only, blind to same-size content with a kept mtime."""
    h = hashlib.sha1(f"v1|{options!r}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"))
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    root = Path(args.data)
    scan = folder.scan_class_folders(root)
    files = [p for items in scan["splits"].values() for p, _ in items]
    print(f"{root}: {len(files)} files, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        opts = DataOptions(data_dir=tmp, val_split=0.1)
        t = time.perf_counter()
        load_dataset(f"folder:{root}", opts)
        cold = time.perf_counter() - t
        (cache_file,) = (Path(tmp) / "cache").glob("*.pt")
        (memo,) = (Path(tmp) / "cache").glob("*.hashes.json")
        entry = torch.load(cache_file, weights_only=True)
        rows = {
            "scan (listing the folders)": median_time(lambda: folder.scan_class_folders(root), args.repeats),
            "key: stat per file (baseline)": median_time(lambda: stat_fingerprint(files, "folder", None), args.repeats),
            "key: content, every file hashed": median_time(lambda: fingerprint(files, "folder", None), args.repeats),
            "key: content, hashes remembered": median_time(lambda: fingerprint(files, "folder", None, memo=memo), args.repeats),
            "torch.load of the cache file": median_time(lambda: torch.load(cache_file, weights_only=True), args.repeats),
            "checksum of the cache entry": median_time(lambda: checksum(entry["value"]), args.repeats),
            "warm start, load_dataset (new)": median_time(lambda: load_dataset(f"folder:{root}", opts), args.repeats),
        }
    print(f"cold start (decode + write cache): {cold:.2f} s")
    for k, v in rows.items():
        print(f"{k:34s} {v:7.3f} s")
    added = rows["key: content, hashes remembered"] - rows["key: stat per file (baseline)"] + rows["checksum of the cache entry"]
    old_warm = rows["warm start, load_dataset (new)"] - added
    print(f"content key (remembered) / stat key: {rows['key: content, hashes remembered'] / rows['key: stat per file (baseline)']:.2f}x, "
          f"(every file hashed) / stat key: {rows['key: content, every file hashed'] / rows['key: stat per file (baseline)']:.2f}x; "
          f"warm start {rows['warm start, load_dataset (new)']:.2f} s vs about {old_warm:.2f} s with the old key "
          f"(+{added:.2f} s, {rows['warm start, load_dataset (new)'] / old_warm:.2f}x)")


if __name__ == "__main__":
    main()
