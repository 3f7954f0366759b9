"""Driver memory of planning a flat folder: ``plan_units`` over a folder of N files, against the same
process planning a folder of one file (the baseline: Python, pyarrow and raypipe imported). The
driver should hold O(1) per folder, so the two peaks should be close whatever N is.

Each side runs in a fresh process; its peak resident set (VmHWM) is read from /proc at the end.

    python bench/listing_memory.py [--files 200000] [--folder /tmp/flat]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PLAN = """
import sys
from raypipe.config import InputConfig
from raypipe.listing import plan_units
units = plan_units(InputConfig(inputs=[sys.argv[1]]), parallelism=64)
peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(len(units), int(peak) * 1024)
"""


def make_flat(folder: Path, files: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    have = sum(1 for _ in os.scandir(folder))
    for i in range(have, files):
        (folder / f"document-number-{i:09d}.pdf").write_bytes(b"%PDF-1.4")


def peak(folder: Path) -> tuple[int, int]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    out = subprocess.run([sys.executable, "-c", PLAN, str(folder)], env=env, check=True, capture_output=True, text=True)
    units, rss = out.stdout.split()
    return int(units), int(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--folder", default=None, help="where the flat folder is made (kept, reused)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        flat = Path(args.folder) if args.folder else Path(tmp) / "flat"
        make_flat(flat, args.files)
        one = Path(tmp) / "one"
        make_flat(one, 1)
        base_units, base = peak(one)
        units, big = peak(flat)
    print(f"planning a folder of 1 file:       peak {base / 2**20:7.1f} MiB ({base_units} units)")
    print(f"planning a folder of {args.files:,} files: peak {big / 2**20:7.1f} MiB ({units} units)")
    print(f"growth: {(big - base) / 2**20:.1f} MiB, ratio {big / base:.2f}")


if __name__ == "__main__":
    main()
