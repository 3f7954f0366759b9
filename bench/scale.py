"""Scale: how the driver fares as the input grows from 10 k to 10 M documents.

For each size N it builds N distinct paths to small real PDFs on local disk (hard links to one-page
documents, 60,000 per document, in folders of 1,000: distinct paths and doc_ids, little disk) and a
Parquet manifest of them, then measures, with the text-layer engine:

- **fresh**: ``raypipe run --manifest`` into a new output — the driver's peak RSS (VmHWM of the
  driver process, polled) and the time from the command's start to the first data file; the run is
  stopped (its whole session killed) once that file is there and the driver has run 20 s more;
- **resume**: the same command over an output in which all N documents are already committed (data
  files and Ray's checkpoint written as a finished run leaves them, N / 64 of each), with 16 new
  documents added to the manifest — the time to the first new data file and the driver's peak RSS.
  (Without the compaction, Ray loads one checkpoint file per data file: 25 s for 1,563 files here.)

    python bench/scale.py                      # 10k 100k 1M (the default sizes)
    python bench/scale.py --sizes 10000 10000000 --keep /big/disk/scale   # 10 M: a manual run (no resume)

It prints one table: each size, each figure, and the ratio to the 10 k figures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from helpers import session_pids  # noqa: E402  (the tests' process-session reader)
from samples import pdf_bytes, text_pages  # noqa: E402  (the tests' PDF generator)

ROWS_PER_FILE = 64
LINKS_PER_FILE = 60_000  # ext4 allows 65,000 links to one file


def build_inputs(folder: Path, n: int, extra: int = 16) -> tuple[Path, Path]:
    """N (+ extra) distinct paths (hard links to one-page PDFs, 1,000 per folder) and two manifests:
    the first N, and all of them."""
    total = n + extra
    originals = folder / "originals"
    originals.mkdir(parents=True, exist_ok=True)
    sources = []
    for k in range(-(-total // LINKS_PER_FILE)):
        path = originals / f"doc-{k}.pdf"
        if not path.exists():
            path.write_bytes(pdf_bytes(text_pages([f"Scale test document {k}"])))
        sources.append(str(path))
    for start in range(0, total, 1000):  # plain os calls: 10 M links in minutes, not hours
        sub = f"{folder}/docs/{start // 1000:06d}"
        count = min(1000, total - start)
        os.makedirs(sub, exist_ok=True)
        if len(os.listdir(sub)) >= count:
            continue
        for i in range(start, start + count):
            try:
                os.link(sources[i // LINKS_PER_FILE], f"{sub}/d{i:09d}.pdf")
            except FileExistsError:
                pass
    paths = [f"{folder}/docs/{i // 1000:06d}/d{i:09d}.pdf" for i in range(total)]
    first = folder / f"manifest-{n}.parquet"
    every = folder / f"manifest-{n}-plus.parquet"
    for target, rows in ((first, paths[:n]), (every, paths)):
        if not target.exists():
            ids = [p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in rows]
            pq.write_table(pa.table({"doc_id": ids, "path": rows}), target, row_group_size=100_000)
    return first, every


def committed_output(out: Path, manifest: Path) -> None:
    """An output holding every document of ``manifest``, as a finished run leaves it: a marker, a run
    record, data files named by the run (ROWS_PER_FILE rows each) and Ray's checkpoint committing them,
    compacted into one file as raypipe does after a run."""
    from raypipe.output import OutputFolder
    from raypipe.schema import OUTPUT

    run = uuid.uuid4().hex[:16]
    folder = OutputFolder(str(out))
    folder.claim(run, {})
    (out / "_raypipe" / "checkpoint").mkdir(parents=True, exist_ok=True)
    table = pq.read_table(manifest, columns=["doc_id", "path"])
    ids, paths = table["doc_id"].to_pylist(), table["path"].to_pylist()
    for n, start in enumerate(range(0, len(ids), ROWS_PER_FILE)):
        chunk = slice(start, start + ROWS_PER_FILE)
        base = f"{run}_{'0' * 32}_{n:06d}"
        rows = [{"doc_id": d, "source": s, "status": "ok", "num_pages": 1, "num_pages_processed": 1, "text": "x",
                 "engine": "text-layer"} for d, s in zip(ids[chunk], paths[chunk])]
        pq.write_table(pa.Table.from_pylist(rows, schema=OUTPUT), out / f"{base}-0.parquet")
    pq.write_table(pa.table({"doc_id": ids}), out / "_raypipe" / "checkpoint" / f"{run}_compacted.parquet")


def peak_rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(manifest: Path, out: Path, log: Path, before: set[str], after_first: float = 20.0,
            limit: float = 1800.0) -> dict:
    """Run the CLI until its first new data file, then ``after_first`` s more; kill its session."""
    command = [sys.executable, "-m", "raypipe", "run", "--manifest", str(manifest), "-o", str(out),
               "--engine", "text-layer", "--no-progress-bars", "--rows-per-file", str(ROWS_PER_FILE)]
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    first, peak = None, 0.0
    try:
        while time.monotonic() - start < limit and proc.poll() is None:
            peak = max(peak, peak_rss_mib(proc.pid))
            if first is None and any(p.name not in before for p in out.glob("*.parquet")):
                first = time.monotonic() - start
            if first is not None and time.monotonic() - start > first + after_first:
                break
            time.sleep(0.2)
    finally:
        for _ in range(5):
            for pid in session_pids(proc.pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.2)
        proc.wait()
    return {"first_file_s": first, "driver_peak_mib": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--keep", help="folder for the inputs (kept between runs; default: a temporary one)")
    ap.add_argument("--resume-max", type=int, default=1_000_000,
                    help="measure the resume only up to this size (the target is set at 1 M committed documents)")
    args = ap.parse_args()
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="raypipe-scale-"))
    rows = []
    for n in args.sizes:
        t0 = time.monotonic()
        first, every = build_inputs(base / "inputs", n)
        built = time.monotonic() - t0
        fresh_out, resume_out = base / f"out-fresh-{n}", base / f"out-resume-{n}"
        for out in (fresh_out, resume_out):
            shutil.rmtree(out, ignore_errors=True)
        fresh = measure(first, fresh_out, base / f"fresh-{n}.log", set())
        resume = {"first_file_s": None, "driver_peak_mib": float("nan")}
        if n <= args.resume_max:
            committed_output(resume_out, first)
            before = {p.name for p in resume_out.glob("*.parquet")}
            resume = measure(every, resume_out, base / f"resume-{n}.log", before)
        rows.append((n, built, fresh, resume))
        print(f"{n:>10,} documents: built in {built:.0f} s; fresh: first file {fresh['first_file_s']} s, driver peak "
              f"{fresh['driver_peak_mib']:.0f} MiB; resume over {n:,} committed: first new file "
              f"{resume['first_file_s']} s, driver peak {resume['driver_peak_mib']:.0f} MiB", flush=True)
    base_fresh = rows[0][2]
    print()
    print(f"{'documents':>12} {'driver peak MiB':>16} {'x':>6} {'first file s':>13} {'x':>6} "
          f"{'resume: first new file s':>25} {'x fresh':>8} {'resume peak MiB':>16}")
    for n, _, fresh, resume in rows:
        f_first, r_first = fresh["first_file_s"] or float("nan"), resume["first_file_s"] or float("nan")
        print(f"{n:>12,} {fresh['driver_peak_mib']:>16.0f} {fresh['driver_peak_mib'] / base_fresh['driver_peak_mib']:>6.2f} "
              f"{f_first:>13.1f} {f_first / (base_fresh['first_file_s'] or float('nan')):>6.2f} "
              f"{r_first:>25.1f} {r_first / f_first:>8.2f} {resume['driver_peak_mib']:>16.0f}")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
