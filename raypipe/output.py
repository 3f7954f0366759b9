"""The output folder as raypipe keeps it: what in it raypipe can prove it wrote, the settings its text
was made with, who is writing to it now, and starting over (``--fresh``) without touching anything else.

Under ``OUTPUT/_raypipe/`` (a name data readers skip):

- ``raypipe.json`` — the marker: this folder is a raypipe output, and the settings that shaped its
  text (engine, model, preset, prompt, page size, ...), so that a resume with other settings is
  refused unless asked;
- ``runs/RUN.json`` — one record per run, written before the run writes. Every data file a run
  writes is named ``RUN_...`` (Ray's writer, with the run id as its file-name prefix), so a data file
  is provably raypipe's when its name starts with a recorded run id, or when Ray's checkpoint
  (``checkpoint/``) committed it (outputs written before run records existed);
- ``lease.json`` — the run writing now (host, pid, run id), renewed while it runs; a second run is
  refused and told which one holds the folder. A lease whose process is gone (same host) or that
  was not renewed for ``LEASE_SECONDS`` does not block.

Only files directly in the output folder, regular files (never a symlink), under a proven name,
are ever deleted, with raypipe's own ``_raypipe/`` records.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

import pyarrow.fs as pafs

from raypipe.errors import OutputRefusedError
from raypipe.storage import is_uri, resolve

META_DIR = "_raypipe"
MARKER = "raypipe.json"
RUNS = "runs"
LEASES = "leases"  # leases/all.json, or leases/I-of-N.json for a --shard slice
CHECKPOINT = "checkpoint"  # checkpoint/, or checkpoint-I-of-N/ for a --shard slice
# A data file being written; the name starts with '.', so readers skip it until it is renamed.
PART_PREFIX, PART_SUFFIX = ".", ".raypipe-part"
DATA_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".jsonl.zst")
LEASE_SECONDS = 90.0  # a lease not renewed for this long no longer blocks
RENEW_SECONDS = 20.0


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


def slice_name(shard: Optional[tuple[int, int]]) -> str:
    """``all``, or ``I-of-N`` for slice I of N: the name of a run's lease and the suffix of its checkpoint."""
    return "all" if shard is None else f"{shard[0]}-of-{shard[1]}"


def checkpoint_dir(shard: Optional[tuple[int, int]]) -> str:
    """Each slice keeps its own checkpoint, so runs of two slices never clean up each other's commits."""
    return CHECKPOINT if shard is None else f"{CHECKPOINT}-{slice_name(shard)}"


@dataclasses.dataclass
class Entry:
    name: str
    kind: str  # "file", "dir", "link" (never followed) or "other"


class OutputFolder:
    """One output folder (a local path or an s3:// / gs:// URI)."""

    def __init__(self, output: str, storage=None):
        self.output, self.storage = output, storage
        self.local = not is_uri(output)
        if self.local:
            self.root = os.path.abspath(os.path.expanduser(output))
        else:
            self.root = output.partition("?")[0].split("://", 1)[1].rstrip("/")
        self.meta = f"{self.root}/{META_DIR}"

    @functools.cached_property
    def fs(self) -> pafs.FileSystem:
        return resolve(self.output, self.storage)[0]

    # --- reading ---------------------------------------------------------------------------------

    def entries(self, folder: Optional[str] = None) -> list[Entry]:
        """The names directly in ``folder`` (default: the output folder), symlinks not followed."""
        folder = folder or self.root
        if self.local:
            try:
                with os.scandir(folder) as it:
                    return [Entry(e.name, "link" if e.is_symlink() else "dir" if e.is_dir(follow_symlinks=False)
                                  else "file" if e.is_file(follow_symlinks=False) else "other") for e in it]
            except (FileNotFoundError, NotADirectoryError):
                return []
        infos = self.fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True, recursive=False))
        kinds = {pafs.FileType.File: "file", pafs.FileType.Directory: "dir"}
        return [Entry(i.base_name, kinds.get(i.type, "other")) for i in infos]

    def exists(self) -> bool:
        return self.fs.get_file_info(self.root).type != pafs.FileType.NotFound

    def read_json(self, name: str) -> Optional[dict]:
        try:
            with self.fs.open_input_stream(f"{self.meta}/{name}") as f:
                value = json.loads(f.read())
            return value if isinstance(value, dict) else None
        except (OSError, ValueError):
            return None

    def write_json(self, name: str, value: dict) -> None:
        """Written under a temporary name and renamed, so a reader never sees half of it."""
        self.fs.create_dir(os.path.dirname(f"{self.meta}/{name}"), recursive=True)
        temporary = f"{self.meta}/.{os.path.basename(name)}.{uuid.uuid4().hex[:8]}"
        with self.fs.open_output_stream(temporary) as f:
            f.write(json.dumps(value, indent=2).encode())
        self.fs.move(temporary, f"{self.meta}/{name}")

    def marker(self) -> Optional[dict]:
        return self.read_json(MARKER)

    def run_ids(self) -> set[str]:
        return {e.name[: -len(".json")] for e in self.entries(f"{self.meta}/{RUNS}")
                if e.kind == "file" and e.name.endswith(".json")}

    def checkpoint_dirs(self) -> list[str]:
        """The checkpoint folders (one, or one per --shard slice), as paths."""
        return [f"{self.meta}/{e.name}" for e in self.entries(self.meta)
                if e.kind == "dir" and (e.name == CHECKPOINT or e.name.startswith(CHECKPOINT + "-"))]

    def committed(self) -> dict[str, str]:
        """Base name of every data file Ray's checkpoints committed -> the checkpoint folder holding it."""
        return {e.name[: -len(".parquet")]: folder for folder in self.checkpoint_dirs() for e in self.entries(folder)
                if e.kind == "file" and e.name.endswith(".parquet") and not e.name.endswith(".pending.parquet")}

    def committed_bases(self) -> set[str]:
        return set(self.committed())

    def has_checkpoint(self) -> bool:
        return bool(self.checkpoint_dirs())

    def live_leases(self) -> dict[str, dict]:
        """Slice name -> lease of every run holding (part of) the folder now."""
        now, live = time.time(), {}
        for e in self.entries(f"{self.meta}/{LEASES}"):
            held = self.read_json(f"{LEASES}/{e.name}") if e.kind == "file" and e.name.endswith(".json") else None
            if held and lease_blocks(held, now):
                live[e.name[: -len(".json")]] = held
        return live

    def is_raypipe(self) -> bool:
        """Whether the folder carries raypipe's marker (or, from before the marker, its checkpoint)."""
        return self.marker() is not None or self.has_checkpoint()

    def data_files(self) -> list[str]:
        """The data files raypipe can prove it wrote: regular files directly in the folder, named with a
        recorded run id or committed by the checkpoint. Anything else is never read, counted or deleted."""
        runs, bases = self.run_ids(), self.committed_bases()
        return sorted(e.name for e in self.entries() if e.kind == "file" and _ours(e.name, runs, bases))

    def foreign(self) -> list[str]:
        """Data files in the folder that raypipe did not write: readers of the folder would take them for
        its rows. (Other stray files — a README, a log — are left alone and never read.)"""
        runs, bases = self.run_ids(), self.committed_bases()
        return sorted(e.name for e in self.entries() if not e.name.startswith(("_", "."))
                      and e.name.endswith(DATA_SUFFIXES) and not (e.kind == "file" and _ours(e.name, runs, bases)))

    # --- writing ---------------------------------------------------------------------------------

    def remove_parts(self) -> int:
        """Delete part files a crash left behind (never data: readers skip them); returns how many."""
        if not self.local:
            return 0  # an object only appears once its upload completes
        runs, bases = self.run_ids(), self.committed_bases()
        busy = {lease.get("run_id") for lease in self.live_leases().values()}  # another slice's run, writing now
        parts = [e.name for e in self.entries() if e.kind == "file" and e.name.startswith(PART_PREFIX)
                 and e.name.endswith(PART_SUFFIX)
                 and _ours(e.name[len(PART_PREFIX):-len(PART_SUFFIX)], runs, bases)
                 and e.name[len(PART_PREFIX):].split("_", 1)[0] not in busy]
        for name in parts:
            _unlink(f"{self.root}/{name}")
        return len(parts)

    def clear(self) -> int:
        """Start over: delete raypipe's data files, parts, checkpoint, run records and summary; returns
        how many data files went. Nothing else is touched."""
        files = self.data_files()
        self.remove_parts()
        for name in files:
            self._delete(f"{self.root}/{name}")
        for folder in [*self.checkpoint_dirs(), f"{self.meta}/{RUNS}"]:
            for e in self.entries(folder):
                if e.kind == "file":
                    self._delete(f"{folder}/{e.name}")
        for name in ("summary.json",):
            if any(e.name == name and e.kind == "file" for e in self.entries(self.meta)):
                self._delete(f"{self.meta}/{name}")
        return len(files)

    def claim(self, run_id: str, settings: dict) -> None:
        """Mark the folder as raypipe's (with the settings of its text) and record this run before it
        writes: its files will be named ``RUN_...``."""
        from raypipe import __version__

        marker = self.marker() or {"created_at": time.time()}
        marker.update(raypipe=__version__, settings=settings)
        self.write_json(MARKER, marker)
        self.write_json(f"{RUNS}/{run_id}.json", {"run_id": run_id, "started_at": time.time(), "raypipe": __version__,
                                                    "host": socket.gethostname(), "settings": settings})

    def _delete(self, path: str) -> None:
        if self.local:
            _unlink(path)
        else:
            self.fs.delete_file(path)


def checkpoint_base(name: str, bases: set[str]) -> Optional[str]:
    """The committed checkpoint a data file belongs to: Ray names a write task's files ``BASE.ext`` or
    ``BASE-N.ext`` and commits their ids together as ``checkpoint/BASE.parquet``."""
    return next((name[:i] for i, ch in enumerate(name) if ch in ".-" and name[:i] in bases), None)


def _ours(name: str, runs: set[str], bases: set[str]) -> bool:
    """A data file's name starts with a recorded run id, or belongs to a committed checkpoint."""
    if not name.endswith(DATA_SUFFIXES):
        return False
    return name.split("_", 1)[0] in runs or checkpoint_base(name, bases) is not None


def _unlink(path: str) -> None:
    """Delete one regular file, never following a symlink (checked again right before)."""
    import stat

    try:
        if stat.S_ISREG(os.lstat(path).st_mode):
            os.unlink(path)
    except FileNotFoundError:
        pass


# --- where an output may not be ----------------------------------------------------------------


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip("/") + "/")


def check_fresh(folder: OutputFolder, input_roots: list[str]) -> None:
    """--fresh deletes only in a raypipe output: never /, a home folder, a bucket root, a folder that holds
    an input or lies inside one, or a folder without raypipe's marker (an empty or new folder is fine)."""
    out = folder.output
    if folder.local:
        path = os.path.realpath(folder.root)
        home = os.path.realpath(os.path.expanduser("~"))
        if path == "/" or _inside(home, path):
            raise OutputRefusedError(f"--fresh: refusing to start over in {out!r}: it is / or holds a home folder")
    elif "/" not in folder.root.strip("/"):
        raise OutputRefusedError(f"--fresh: refusing to start over in {out!r}: it is a bucket's root")
    else:
        path = folder.root
    for root in input_roots:
        if _inside(root, path) or _inside(path, root):
            raise OutputRefusedError(
                f"--fresh: refusing to start over in {out!r}: it holds an input or lies inside one ({root}); "
                "choose an output folder apart from the inputs"
            )
    if folder.exists() and not folder.is_raypipe() and folder.entries():
        example = sorted(e.name for e in folder.entries())[0]
        raise OutputRefusedError(
            f"--fresh: refusing to start over in {out!r}: it holds files (e.g. {example!r}) but is no raypipe "
            f"output (no {META_DIR}/{MARKER}); raypipe deletes only what it wrote. Choose a new or empty --output"
        )


# --- the lease -----------------------------------------------------------------------------------


def process_token(pid: int) -> Optional[str]:
    """What tells a process apart from a later one with the same pid: the boot and the process's start
    time (Linux); None where /proc cannot say."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        started = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]  # field 22: starttime
    except (OSError, IndexError):
        return None
    return f"{boot}:{started}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def lease_blocks(lease: dict, now: float) -> bool:
    """Whether another run's lease still holds the folder. On its own host the lease's process decides
    (alive and the same process: it holds, however late its renewal — a suspended machine, a hung
    write); elsewhere a lease not renewed for LEASE_SECONDS has lapsed."""
    if lease.get("host") == socket.gethostname() and isinstance(lease.get("pid"), int):
        token = lease.get("process")
        if token is not None and process_token(lease["pid"]) is not None:
            return process_token(lease["pid"]) == token  # the pid may be reused by another process since
        if not _alive(lease["pid"]):
            return False
    return now - float(lease.get("renewed_at", 0)) <= LEASE_SECONDS


def conflicting(live: dict[str, dict], name: str, run_id: str) -> Optional[dict]:
    """The live lease a run of slice ``name`` must wait for: any, for a run of every document; the same
    slice's, or one of every document's, for a --shard run."""
    for held_name, held in sorted(live.items()):
        if held.get("run_id") != run_id and (name == "all" or held_name in ("all", name)):
            return held
    return None


def busy_message(output: str, held: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(held.get("started_at", 0))))
    return (
        f"output {output!r} is in use by raypipe run {held.get('run_id')} (host {held.get('host')}, pid "
        f"{held.get('pid')}, started {started}); wait for it to finish, or choose another --output. A run that "
        f"died stops holding it within {LEASE_SECONDS:.0f} s."
    )


class Lease:
    """This run's hold on the output folder (or its --shard slice), renewed in the background until released."""

    def __init__(self, folder: OutputFolder, run_id: str, shard: Optional[tuple[int, int]] = None):
        self.folder, self.run_id = folder, run_id
        self.name = f"{LEASES}/{slice_name(shard)}.json"
        self.record = {"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(),
                       "process": process_token(os.getpid()),
                       "started_at": time.time(), "renewed_at": time.time()}
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def acquire(self) -> "Lease":
        slice_ = self.name.split("/")[-1][: -len(".json")]
        held = conflicting(self.folder.live_leases(), slice_, self.run_id)
        if held:
            raise OutputRefusedError(busy_message(self.folder.output, held))
        self.folder.write_json(self.name, self.record)
        time.sleep(0.05 if self.folder.local else 1.0)  # two runs racing: the last write wins; the loser sees it
        if (self.folder.read_json(self.name) or {}).get("run_id") != self.run_id:
            raise OutputRefusedError(f"output {self.folder.output!r} was claimed by another raypipe run at the same moment")
        self._thread = threading.Thread(target=self._renew, name="raypipe-lease", daemon=True)
        self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_SECONDS):
            try:
                self.record["renewed_at"] = time.time()
                self.folder.write_json(self.name, self.record)
            except OSError:
                pass  # the next renewal tries again; the lease lapses only after LEASE_SECONDS

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            if (self.folder.read_json(self.name) or {}).get("run_id") == self.run_id:
                self.folder.fs.delete_file(f"{self.folder.meta}/{self.name}")
        except OSError:
            pass


def check_folder(folder: OutputFolder) -> None:
    """--output must be a folder (or not exist yet), and hold no symlinked folder: Ray's clean-up after
    a crash lists the output recursively and would walk into it."""
    if folder.local:
        if os.path.exists(folder.root) and not os.path.isdir(folder.root):
            raise OutputRefusedError(f"--output {folder.output!r} is a file, not a folder")
        for base, dirs, _ in os.walk(folder.root):  # links are not followed, only found
            for name in dirs:
                if os.path.islink(os.path.join(base, name)):
                    raise OutputRefusedError(
                        f"--output {folder.output!r} holds a symlink to a folder ({os.path.join(base, name)!r}); "
                        "raypipe's clean-up after a crash would walk into it. Remove the link or choose another --output"
                    )
    elif folder.fs.get_file_info(folder.root).type == pafs.FileType.File:
        raise OutputRefusedError(f"--output {folder.output!r} is an object, not a folder")
