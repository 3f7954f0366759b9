"""A process of its own for work that may run away: PDFium, qpdf and the salvage on one document.

One long-lived child per worker process, started on first use (about half a second: the imports and
a warm-up render) and kept for the next documents. Its address space is capped with ``RLIMIT_AS`` at
its own size after start-up plus ``memory_limit``, so a document that needs more fails inside the
child (MemoryError, or an abort in native code) and the worker process is untouched. The parent
sends one job at a time (a generator function by name and its arguments) and reads what the
generator yields, one item at a time, with a deadline per item; past a deadline it kills the child.
A killed or dead child is started again for the next job.

The child dies with its parent: ``PR_SET_PDEATHSIG`` when it was started from the parent's main
thread (the signal follows the thread that started it), and a watchdog thread that exits when the
parent pid changes. It ignores SIGINT (the parent decides) and writes no core files.

The wire: length-prefixed pickles on two pipes (the child's stdin and stdout, moved off fds 0 and 1
so that stray output goes to stderr).
"""

from __future__ import annotations

import importlib
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Optional

from raypipe.errors import DocumentError, ErrorCode

_HEADER = struct.Struct("<Q")
_PIPE_BYTES = 1 << 20  # pipe buffer asked for (F_SETPIPE_SZ): a page image in one or two reads
_START_SECONDS = 120.0  # the child's start-up (imports, warm-up render) must end within this
_TRIM_ABOVE = 64 << 20  # after a job that left the child this much larger, malloc_trim
NEAR_LIMIT = 1 / 3  # a death after using this share of the limit counts as running out of memory
DONE = object()  # what :meth:`Sandbox.receive` returns when the job's generator has finished


class Timeout(Exception):
    """The deadline passed; the child was killed."""


class OutOfMemory(Exception):
    """The job needed more than ``memory_limit``: MemoryError in the child, or the child died near
    the limit (or aborted: PDFium's runtime aborts when an allocation fails)."""

    def __init__(self, how: str, peak: int):
        super().__init__(how)
        self.how, self.peak = how, peak


class Crashed(Exception):
    """The child died (a signal, or an exit) far from the memory limit."""

    def __init__(self, how: str, peak: int):
        super().__init__(how)
        self.how, self.peak = how, peak


# --- the wire ----------------------------------------------------------------------------------


def _send(fd: int, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=5)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, n: int) -> Optional[bytes]:
    out = bytearray()
    while len(out) < n:
        chunk = os.read(fd, n - len(out))
        if not chunk:
            return None
        out += chunk
    return bytes(out)


def _receive_blocking(fd: int) -> Any:
    head = _read_exactly(fd, _HEADER.size)
    if head is None:
        raise EOFError
    body = _read_exactly(fd, _HEADER.unpack(head)[0])
    if body is None:
        raise EOFError
    return pickle.loads(body)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _vm_size() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


# --- the child ---------------------------------------------------------------------------------


def _function(target: str) -> Callable:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _tie_to_parent(parent: int, pdeathsig: bool) -> None:
    if pdeathsig:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _run_job(out: int, function: Callable, args: tuple) -> tuple:
    """Send what ``function(*args)`` yields; the closing message (without the memory figures)."""
    try:
        for item in function(*args):
            _send(out, ("item", item))
        return ("done",)
    except DocumentError as e:
        return ("document_error", e.code.value, e.message)
    except MemoryError:
        return ("memory_error",)
    except BrokenPipeError:
        raise
    except Exception as e:
        return ("error", f"{type(e).__name__}: {e}")


def child_main(argv: list[str]) -> None:
    """The child: ``PARENT_PID PDEATHSIG MEMORY_LIMIT WARM_UP`` (WARM_UP: ``module:function`` or -)."""
    import faulthandler
    import resource

    parent, pdeathsig, memory_limit, warm_up = int(argv[0]), argv[1] == "1", int(argv[2]), argv[3]
    inp, out = os.dup(0), os.dup(1)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)  # anything printed goes to stderr, not into the wire
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    faulthandler.enable()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _tie_to_parent(parent, pdeathsig)
    if warm_up != "-":
        _function(warm_up)()
    child = _Child(inp, out, memory_limit)
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (child.baseline + memory_limit, resource.RLIM_INFINITY))
    _send(out, ("ready", child.ready))
    while True:
        try:
            child.serve_one()
        except (EOFError, OSError):  # the parent is gone (its end of a pipe closed)
            os._exit(0)


class _Child:
    """The child's side of the wire, after start-up: one job per :meth:`serve_one`."""

    def __init__(self, inp: int, out: int, memory_limit: int):
        import ctypes

        self.inp, self.out, self.memory_limit = inp, out, memory_limit
        self.libc = ctypes.CDLL(None)
        self.functions: dict[str, Callable] = {}
        self.baseline = _vm_size()  # address space after start-up: the limit is set above it
        self.ready = _status_kb("VmRSS") * 1024

    def serve_one(self) -> None:
        target, args = _receive_blocking(self.inp)
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # the peak resident size starts again from here
        except OSError:  # not on this kernel: the peak is the process's
            pass
        if target not in self.functions:
            self.functions[target] = _function(target)
        reply = _run_job(self.out, self.functions[target], args)
        peak = _status_kb("VmHWM") * 1024
        if _status_kb("VmRSS") * 1024 > self.ready + _TRIM_ABOVE:
            self.libc.malloc_trim(0)  # give back what the job freed, so that the next one starts from here
        # what the job left behind would eat into the next one's limit: end, and the parent starts afresh
        retire = bool(self.memory_limit) and _vm_size() > self.baseline + self.memory_limit // 4
        _send(self.out, (*reply, peak, _status_kb("VmRSS") * 1024, retire))
        if retire:
            os._exit(0)


# --- the parent --------------------------------------------------------------------------------


class Sandbox:
    """The parent's handle on one child (see the module docstring). Not thread-safe: one job at a
    time (hold :attr:`lock`)."""

    def __init__(self, memory_limit: int, warm_up: Optional[str] = None):
        self.memory_limit = memory_limit
        self.warm_up = warm_up
        self.lock = threading.Lock()
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0  # children started so far
        self.rss_idle = 0  # the child's resident size between jobs
        self.last_peak = 0  # the peak resident size of the child during the last job
        self._buf = bytearray()
        self._busy = False

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.close()
        main = threading.current_thread() is threading.main_thread()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from raypipe.pdf.sandbox import child_main; child_main(sys.argv[1:])",
             str(os.getpid()), "1" if main else "0", str(self.memory_limit), self.warm_up or "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True,
        )
        self.starts += 1
        self._buf.clear()
        try:
            import fcntl

            fcntl.fcntl(self.proc.stdout.fileno(), 1031, _PIPE_BYTES)  # F_SETPIPE_SZ
        except OSError:
            pass  # the default size only costs more reads
        try:
            message = self._next(time.monotonic() + _START_SECONDS)
        except (Timeout, OutOfMemory, Crashed) as e:
            self.close()
            raise RuntimeError(f"the render process did not start: {e}") from e
        self.rss_idle = message[1]

    def submit(self, target: str, args: tuple) -> None:
        """Start ``target(*args)`` (a generator function, ``module:function``) in the child."""
        if self._busy or not self.alive():
            self.start()
        try:
            _send(self.proc.stdin.fileno(), (target, args))
        except BrokenPipeError:  # it died while idle (nothing of this job ran): once more
            self.start()
            _send(self.proc.stdin.fileno(), (target, args))
        self._busy = True

    def receive(self, deadline: float) -> Any:
        """The next item the job yields, or :data:`DONE`. Raises :class:`Timeout` past ``deadline``
        (``time.monotonic()``), :class:`OutOfMemory` or :class:`Crashed` when the child ran out of
        memory or died, and DocumentError as the job raised it (any other exception of the job as
        DocumentError ``internal``)."""
        message = self._next(deadline)
        kind = message[0]
        if kind == "item":
            return message[1]
        self._busy = False
        self.last_peak, self.rss_idle, retire = message[-3:]
        if retire:
            self.close()
        if kind == "done":
            return DONE
        if kind == "document_error":
            raise DocumentError(ErrorCode(message[1]), message[2])
        if kind == "memory_error":
            self.kill()  # a MemoryError may leave the child's libraries in any state
            raise OutOfMemory("MemoryError", self.last_peak)
        raise DocumentError(ErrorCode.INTERNAL, message[1])

    def _next(self, deadline: float) -> tuple:
        fd = self.proc.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        while True:
            if len(self._buf) >= _HEADER.size:
                size = _HEADER.unpack_from(self._buf)[0]
                if len(self._buf) >= _HEADER.size + size:
                    message = pickle.loads(memoryview(self._buf)[_HEADER.size:_HEADER.size + size])
                    del self._buf[:_HEADER.size + size]
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise Timeout()
            if not poller.poll(min(left, 3600.0) * 1000 + 1):
                continue
            chunk = os.read(fd, _PIPE_BYTES)
            if not chunk:
                raise self._died()
            self._buf += chunk

    def _died(self) -> Exception:
        """Reap the dead child (its output has ended); the exception that says how it died."""
        for _ in range(500):
            pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.01)
        else:  # its output closed but it lives on: it is of no more use
            self.proc.kill()
            _, status, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.kill()
        peak = usage.ru_maxrss * 1024  # kB on Linux; the peak since the job started (see child_main)
        self.last_peak = peak
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            try:
                how = signal.Signals(number).name
            except ValueError:
                how = f"signal {number}"
            aborted = number == signal.SIGABRT
        else:
            how, aborted = f"exit code {os.WEXITSTATUS(status)}", False
        if self.memory_limit and (aborted or peak - self.rss_idle >= NEAR_LIMIT * self.memory_limit):
            return OutOfMemory(how, peak)
        return Crashed(how, peak)

    def kill(self) -> None:
        """Stop the child now (SIGKILL) and reap it (its peak resident size: :attr:`last_peak`)."""
        if self.proc is not None:
            if self.proc.returncode is None:
                self.proc.kill()
                try:
                    _, status, usage = os.wait4(self.proc.pid, 0)
                    self.proc.returncode = os.waitstatus_to_exitcode(status)
                    self.last_peak = usage.ru_maxrss * 1024
                except ChildProcessError:  # reaped already
                    pass
            for pipe in (self.proc.stdin, self.proc.stdout):
                pipe.close()
            self.proc = None
        self._busy = False
        self._buf.clear()

    def close(self) -> None:
        """End the child: it exits when its input closes; killed if it does not within a second."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=1)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


_shared: dict[tuple, Sandbox] = {}
_shared_lock = threading.Lock()


def shared(memory_limit: int, warm_up: Optional[str] = None) -> Sandbox:
    """This process's sandbox for these settings (one child per process: another setting replaces it)."""
    key = (memory_limit, warm_up)
    with _shared_lock:
        if key not in _shared:
            for old in _shared.values():
                with old.lock:
                    old.close()
            _shared.clear()
            _shared[key] = Sandbox(memory_limit, warm_up)
        return _shared[key]
