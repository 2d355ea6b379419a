"""The session kernel of the dynamic-sessions emulator.

One long-lived process per session, standard library only. It speaks newline-delimited JSON with the
emulator over the pipes it was started with, and runs each cell like a notebook:

  host -> kernel  {"op": "exec", "id": "...", "code": "..."}
  host -> kernel  {"op": "shell", "id": "...", "command": "..." | "argv": [...], "stdin": "..." | null}
  host -> kernel  {"op": "interrupt", "id": "..."}          (at any time)
  kernel -> host  {"op": "ready", "pid": 2, "version": "3.11.2", "preimport_ms": 1.2, "preimport_errors": []}
  kernel -> host  {"op": "result", "id": "...", "status": "Success" | "Failure", "stdout": "...",
                   "stderr": "...", "result": <json> | null, "result_kind": "none" | "json" | "nonfinite" |
                   "repr", "result_repr": "..." | null, "images": [...], "duration_ms": 1.2,
                   "interrupted": false, "exit_code": <int> (shell only)}

The emulator's side of this protocol is `src/kernel/protocol.rs`, which names the messages the same way.

State (globals, imports, the working directory) persists between cells. The value of a trailing expression
is the result: JSON scalars as they are, anything else as its repr (containers pretty-printed one item per
line when long, as IPython shows them); the host picks the rendering the API version asks for. Output is
captured at the file-descriptor level, so C extensions and child processes are captured too. matplotlib
figures come back as PNG images. Shell commands run with Bash in the same working directory, with the same
limits, in their own process group (killed on interrupt).

Everything the host receives is bounded: each output stream by DS_OUTPUT_CAP bytes, the result's text by the
same cap, and the images of one execution together by DS_IMAGE_CAP bytes, each cut with a note on stderr.
"""

import ast
import asyncio
import base64
import builtins
import importlib
import io
import json
import linecache
import math
import os
import pprint
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
import types

OUTPUT_CAP = int(os.environ.get("DS_OUTPUT_CAP", str(1 << 20)))
IMAGE_CAP = int(os.environ.get("DS_IMAGE_CAP", str(8 << 20)))
KERNEL_FILE = os.path.abspath(__file__)
MAX_SAFE_INT = 2**53


def _private_fd(fd):
    new = os.dup(fd)
    os.set_inheritable(new, False)
    return new


# The protocol pipes, set by start(): a private copy of the fds the host talks on; fd 0 reads /dev/null and
# fds 1 and 2 point at per-cell buffers. (A template imports this module and starts each forked session's
# kernel with the pipes the host handed it; run as a script, the kernel talks on its stdin and stdout.)
PROTO_IN = None
PROTO_OUT = None
_devnull = None
_send_lock = threading.Lock()


def send(message):
    data = (json.dumps(message, allow_nan=False, default=repr) + "\n").encode()
    with _send_lock:
        PROTO_OUT.write(data)


# ---------------------------------------------------------------------------------------------------------
# Path translation for sandboxes without a mount namespace (the emulator's Landlock tier): there the session
# directory is not mounted at /mnt/data, so paths under /mnt/data are mapped onto it.
DATA_DIR = os.environ.get("DS_DATA_DIR", "/mnt/data")


def _install_path_translation(real):
    prefix = "/mnt/data"

    def tr(path):
        if isinstance(path, str) and (path == prefix or path.startswith(prefix + "/")):
            return real + path[len(prefix):]
        if isinstance(path, bytes) and (path == prefix.encode() or path.startswith(prefix.encode() + b"/")):
            return real.encode() + path[len(prefix):]
        if hasattr(path, "__fspath__"):
            return tr(os.fspath(path))
        return path

    def wrap1(fn):
        def inner(path, *args, **kwargs):
            return fn(tr(path), *args, **kwargs)

        inner.__wrapped__ = fn
        inner.__name__ = getattr(fn, "__name__", "wrapped")
        return inner

    def wrap2(fn):
        def inner(src, dst, *args, **kwargs):
            return fn(tr(src), tr(dst), *args, **kwargs)

        inner.__wrapped__ = fn
        return inner

    builtins.open = wrap1(builtins.open)
    io.open = builtins.open
    for name in ("open", "stat", "lstat", "listdir", "scandir", "remove", "unlink", "mkdir", "makedirs",
                 "rmdir", "chdir", "access", "utime", "chmod", "truncate", "readlink"):
        if hasattr(os, name):
            setattr(os, name, wrap1(getattr(os, name)))
    for name in ("rename", "replace", "link", "symlink"):
        setattr(os, name, wrap2(getattr(os, name)))


if DATA_DIR != "/mnt/data":
    _install_path_translation(DATA_DIR)


# ---------------------------------------------------------------------------------------------------------
# Images and display().
_pending_images = []


_image_budget = {"left": IMAGE_CAP, "dropped": 0}


def _figure_png(fig):
    """The figure as an image result, within what is left of the execution's image budget."""
    data = _tight_png(fig)
    encoded = base64.b64encode(data).decode("ascii")
    if len(encoded) > _image_budget["left"]:
        _image_budget["dropped"] += 1
        return None
    _image_budget["left"] -= len(encoded)
    return {"type": "image", "format": "png", "base64_data": encoded}


def _tight_png(fig, pad=0.1):
    """The figure as a PNG cut to its drawn content, as `savefig(bbox_inches="tight")` makes it (Jupyter's
    inline figures), with one draw instead of two: the figure is drawn once, and when the content with its
    padding lies within the canvas the picture is cropped from it; otherwise (a legend outside the axes, say)
    matplotlib draws it again at the larger size."""
    try:
        import matplotlib
        import numpy as np
        from PIL import Image

        rc = matplotlib.rcParams
        if rc["savefig.transparent"] or rc["savefig.dpi"] != "figure" or not (
                rc["savefig.facecolor"] == rc["savefig.edgecolor"] == "auto"):
            raise LookupError("the user's own savefig settings: matplotlib applies them")
        canvas = fig.canvas
        canvas.draw()
        box = fig.get_tightbbox(canvas.get_renderer())
        width, height = fig.get_size_inches()
        x0, y0, x1, y1 = box.x0 - pad, box.y0 - pad, box.x1 + pad, box.y1 + pad
        if x0 >= 0 and y0 >= 0 and x1 <= width and y1 <= height:
            dpi = fig.dpi
            rows = int(round(height * dpi))
            left, right = int(round(x0 * dpi)), int(round(x1 * dpi))
            top, bottom = rows - int(round(y1 * dpi)), rows - int(round(y0 * dpi))
            pixels = np.asarray(canvas.buffer_rgba())[top:bottom, left:right]
            buf = io.BytesIO()
            Image.fromarray(pixels).save(buf, format="png", compress_level=1, dpi=(dpi, dpi))
            return buf.getvalue()
    except Exception:  # noqa: BLE001 - any surprise: matplotlib's own way below
        pass
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=pad)
    return buf.getvalue()


def _is_figure(obj):
    cls = type(obj)
    return cls.__module__.startswith("matplotlib.figure") and cls.__name__ in ("Figure", "SubFigure")


def _collect_figures():
    """Every open matplotlib figure becomes an image; then all are closed."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    try:
        plt.show = _no_show
        for num in plt.get_fignums():
            image = _figure_png(plt.figure(num))
            if image is not None:
                _pending_images.append(image)
    finally:
        plt.close("all")


def _no_show(*args, **kwargs):
    return None


def display(*objs, **kwargs):
    """Notebook-style display: figures become images, anything else is printed as its repr."""
    for obj in objs:
        if _is_figure(obj):
            image = _figure_png(obj)
            if image is not None:
                _pending_images.append(image)
            plt = sys.modules.get("matplotlib.pyplot")
            if plt is not None:
                plt.close(obj)
        else:
            sys.stdout.write(repr(obj) + "\n")
            sys.stdout.flush()


builtins.display = display


def _exit(code=None):
    """exit()/quit() end the cell, not the kernel (the site versions would also close stdin)."""
    raise SystemExit(code)


builtins.exit = builtins.quit = _exit

def _install_streams():
    """Unbuffered text streams on fds 1 and 2, so Python's output interleaves correctly with child processes'."""
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                                  write_through=True, line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                                  write_through=True, line_buffering=True)
    sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr


# ---------------------------------------------------------------------------------------------------------
# Output capture at the file-descriptor level.
def _flush_all():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except Exception:
        pass


class _Drain:
    """fd 1 or 2 for the kernel's lifetime: a pipe (as in Jupyter) read by a thread that keeps the first
    OUTPUT_CAP bytes written during a cell and only counts the rest, so a flood of output costs neither memory
    nor an error in the writer. Child processes that outlive a cell keep writing into it harmlessly; what they
    write between cells is dropped.

    The end of a cell is a barrier: the kernel writes a random marker into the pipe (atomically: it is
    shorter than PIPE_BUF) and waits until the thread has read up to it, so everything written before the
    marker, by the kernel or by a child that has finished, belongs to the cell."""

    def __init__(self, fd):
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        os.dup2(write_end, fd)  # inheritable: child processes write here directly
        # A private copy (not inherited) restores `fd` before each cell, should a cell close or replace it.
        self.write_end = write_end
        self.fd, self.read_end = fd, read_end
        self.lock = threading.Lock()
        self.chunks, self.kept, self.total, self.capturing = [], 0, 0, False
        self.marker, self.tail, self.reached = None, b"", threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _keep(self, data):
        if not self.capturing or not data:
            return
        self.total += len(data)
        room = OUTPUT_CAP - self.kept
        if room > 0:
            self.chunks.append(data[:room])
            self.kept += min(room, len(data))

    def _run(self):
        while True:
            try:
                data = os.read(self.read_end, 1 << 16)
            except InterruptedError:
                continue
            except OSError:
                return
            if not data:
                return
            with self.lock:
                if self.marker is None:
                    self._keep(data)
                    continue
                window = self.tail + data
                at = window.find(self.marker)
                if at < 0:
                    # Keep back what could be the start of the marker.
                    keep = max(0, len(window) - len(self.marker) + 1)
                    self._keep(window[:keep])
                    self.tail = window[keep:]
                    continue
                self._keep(window[:at])
                self.marker, self.tail, self.capturing = None, b"", False
                self.reached.set()

    def begin(self):
        try:
            os.dup2(self.write_end, self.fd)
            os.set_blocking(self.fd, True)
        except OSError:
            pass
        with self.lock:
            self.chunks, self.kept, self.total, self.capturing = [], 0, 0, True
            self.marker, self.tail = None, b""

    def end(self):
        """The cell's output, once everything written before now has been read."""
        marker = b"\0ds-end-" + os.urandom(12).hex().encode() + b"\0"
        with self.lock:
            self.reached.clear()
            self.marker, self.tail = marker, b""
        # A late interrupt must not lose the output; if the reader is gone, keep what it has after 10 s.
        deadline, written = time.monotonic() + 10, False
        while True:
            try:
                if not written:
                    os.write(self.fd, marker)
                    written = True
                self.reached.wait(max(0.0, deadline - time.monotonic()))
                break
            except KeyboardInterrupt:
                continue
            except OSError:
                # The cell closed or broke the descriptor (the next cell restores it): keep what was read.
                break
        with self.lock:
            self.capturing, self.marker = False, None
            data, total = b"".join(self.chunks), self.total
            self.chunks = []
        text = data.decode("utf-8", errors="replace")
        if total > len(data):
            text += "\n[output truncated: %d of %d bytes shown]\n" % (len(data), total)
        return text


_drains = None



class Capture:
    def __enter__(self):
        _flush_all()
        for drain in _drains:
            drain.begin()
        return self

    def __exit__(self, *exc):
        _flush_all()
        self.stdout = _drains[0].end()
        self.stderr = _drains[1].end()
        return False


# ---------------------------------------------------------------------------------------------------------
# Running cells.
USER_NS = {"__name__": "__main__", "__builtins__": builtins}
_loop = None  # one persistent event loop per kernel process, made by the first cell that awaits


def _event_loop():
    """The kernel's event loop, made when a cell first awaits at top level: made at start, it would cost every
    session about half a megabyte of its own that most never use."""
    global _loop
    if _loop is None:
        _loop = asyncio.new_event_loop()
    return _loop


_cell_counter = 0
_state = {"executing": None}
_state_lock = threading.Lock()
_main_thread = None


def _repr(value):
    """What a notebook shows for a value: containers pretty-printed (one item per line when long, as IPython
    does), anything else its repr."""
    try:
        if type(value) in (list, tuple, dict, set, frozenset):
            return pprint.pformat(value, width=79, sort_dicts=False)
        return repr(value)
    except Exception as e:  # a broken __repr__ must not take the kernel down
        return "<unrepresentable %s: %s>" % (type(value).__name__, e)


def _cap_text(text, what):
    if len(text) <= OUTPUT_CAP:
        return text
    sys.stderr.write("[%s truncated: %d of %d characters shown]\n" % (what, OUTPUT_CAP, len(text)))
    return text[:OUTPUT_CAP]


def _json_result(value):
    """(result, kind, repr): the JSON value, how to read it, and the notebook text of primitives.

    kind is "none" (no value), "json" (a JSON scalar as it is), "nonfinite" (NaN or an infinity: repr in
    result) or "repr" (anything else: its text in result)."""
    if value is None or _is_figure(value):
        return None, "none", None
    if isinstance(value, str):
        value = _cap_text(value, "result")
        return value, "json", repr(value)
    if isinstance(value, bool) or (isinstance(value, int) and abs(value) <= MAX_SAFE_INT):
        return value, "json", repr(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value, "json", repr(value)
        return repr(value), "nonfinite", repr(value)
    text = _cap_text(_repr(value), "result")
    return text, "repr", text


def _user_traceback(exc):
    """The traceback without the kernel's own frames, anywhere in the chain (causes and contexts too)."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__, compact=True)
    seen = set()

    def strip(t):
        while t is not None and id(t) not in seen:
            seen.add(id(t))
            kept = [f for f in t.stack if os.path.abspath(f.filename) != KERNEL_FILE]
            t.stack = traceback.StackSummary.from_list(kept)
            strip(t.__cause__)
            t = t.__context__

    strip(te)
    text = "".join(te.format())
    try:  # a user's __dir__ may raise anything, SystemExit included
        suggestion = _suggestion(exc) if sys.version_info < (3, 12) else None
    except BaseException:  # noqa: BLE001
        suggestion = None
    if suggestion and text.endswith("\n") and "Did you mean" not in text.rsplit("\n", 2)[-2]:
        text = text[:-1] + ". Did you mean: %r?\n" % suggestion
    return text


# Python 3.10 and 3.11 print "Did you mean: 'sqrt'?" after a misspelt name only from their own top-level handler,
# not through the traceback module (3.12 does both): the kernel adds it as `python` prints it. The closest name
# by an edit distance in which a change of case costs 1 and any other edit 2, within about a third of the two
# names' length, as CPython chooses it (nearest scope first).
def _suggestion(exc):
    name = getattr(exc, "name", None)
    if not isinstance(name, str) or not name or len(name) > 40:
        return None
    if isinstance(exc, AttributeError):
        try:
            scopes = [dir(exc.obj)]
        except Exception:
            return None
    elif isinstance(exc, NameError):
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is None:
            return None
        frame = tb.tb_frame
        scopes = [list(frame.f_locals), list(frame.f_globals), list(frame.f_builtins)]
    else:
        return None
    for candidates in scopes:  # the nearest scope with a close name wins
        if len(candidates) >= 750:
            continue
        best, best_distance = None, None
        for candidate in candidates:
            if not isinstance(candidate, str) or candidate == name or len(candidate) > 40:
                continue
            limit = (len(name) + len(candidate) + 3) * 2 // 6
            if best_distance is not None:
                limit = min(limit, best_distance - 1)
            distance = _edit_distance(name, candidate, limit)
            if distance <= limit:
                best, best_distance = candidate, distance
        if best is not None:
            return best
    return None


def _edit_distance(a, b, limit):
    """Levenshtein distance with a change of case costing 1 and other edits 2; anything above `limit` is
    reported as `limit + 1`."""
    if abs(len(a) - len(b)) * 2 > limit:
        return limit + 1
    previous = [2 * j for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        current = [2 * i]
        for j, cb in enumerate(b, 1):
            change = 0 if ca == cb else (1 if ca.lower() == cb.lower() else 2)
            current.append(min(previous[j] + 2, current[j - 1] + 2, previous[j - 1] + change))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _run(code, filename):
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree = compile(code, filename, "exec", ast.PyCF_ONLY_AST | flags)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    for node, mode in ((ast.Module(tree.body, type_ignores=[]), "exec"), (last, "eval")):
        if node is None:
            continue
        compiled = compile(node, filename, mode, flags)
        value = eval(compiled, USER_NS)
        if compiled.co_flags & 0x80:  # CO_COROUTINE: top-level await
            value = _event_loop().run_until_complete(value)
        if mode == "eval":
            return value
    return None


def execute(request):
    global _cell_counter
    _cell_counter += 1
    filename = "Cell In[%d]" % _cell_counter
    code = request.get("code", "")
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    _pending_images.clear()
    _image_budget["left"], _image_budget["dropped"] = IMAGE_CAP, 0
    started = time.perf_counter()
    status, interrupted = "Success", False
    result, result_kind, result_repr = None, "none", None
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with Capture() as cap:
        with _state_lock:
            _state["executing"] = request.get("id")
        try:
            value = _run(code, filename)
            if value is not None:
                USER_NS["_"] = value
                if _is_figure(value):
                    display(value)
            result, result_kind, result_repr = _json_result(value)
        except KeyboardInterrupt as e:
            status, interrupted = "Failure", True
            sys.stderr.write(_user_traceback(e))
        except SystemExit as e:
            if e.code not in (None, 0):
                status = "Failure"
                sys.stderr.write("SystemExit: %s\n" % (e.code,))
        except BaseException as e:
            status = "Failure"
            sys.stderr.write(_user_traceback(e))
        finally:
            with _state_lock:
                _state["executing"] = None
        try:
            _collect_figures()
        except Exception as e:
            sys.stderr.write("could not render figures: %s\n" % e)
        if _image_budget["dropped"]:
            sys.stderr.write("[%d figure(s) not returned: the execution's images exceed %d bytes; save them to "
                             "/mnt/data instead]\n" % (_image_budget["dropped"], IMAGE_CAP))
    images = list(_pending_images)
    _pending_images.clear()
    return {
        "op": "result",
        "id": request.get("id"),
        "status": status,
        "stdout": cap.stdout,
        "stderr": cap.stderr,
        "result": result,
        "result_kind": result_kind,
        "result_repr": result_repr,
        "images": images,
        "duration_ms": (time.perf_counter() - started) * 1000.0,
        "interrupted": interrupted,
    }


# A shell command runs in a process group of its own, so that an interrupt kills it whole. The Landlock tier
# refuses `setsid` and `setpgid` (every process of the session stays in the kernel's group, which the host
# kills whole): there the command shares the kernel's group, and an interrupt kills the shell itself.
if os.environ.get("DS_NO_PROCESS_GROUPS") == "1":
    _OWN_GROUP = {}
elif sys.version_info >= (3, 11):
    _OWN_GROUP = {"process_group": 0}
else:
    _OWN_GROUP = {"start_new_session": True}


def shell(request):
    """Runs a shell command (Bash) or an argument list in its own process group; an interrupt kills the group."""
    started = time.perf_counter()
    argv = request.get("argv")
    if not argv:
        argv = ["/bin/bash", "-c", request.get("command") or ""]
    stdin = request.get("stdin")
    status, exit_code, interrupted = "Success", None, False
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with Capture() as cap:
        with _state_lock:
            _state["executing"] = request.get("id")
        proc = None
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                    stdout=1, stderr=2, cwd=os.getcwd(), **_OWN_GROUP)
            if stdin is not None:
                try:
                    proc.stdin.write(stdin.encode("utf-8", errors="surrogateescape"))
                except BrokenPipeError:
                    pass
                finally:
                    proc.stdin.close()
            exit_code = proc.wait()
        except KeyboardInterrupt:
            interrupted, exit_code = True, -1
            sys.stderr.write("The command was stopped: it ran past its time limit.\n")
        except OSError as e:
            exit_code = 127 if isinstance(e, FileNotFoundError) else 126
            sys.stderr.write("%s: %s\n" % (argv[0], e.strerror or e))
        finally:
            with _state_lock:
                _state["executing"] = None
            if proc is not None and proc.poll() is None:
                try:
                    if _OWN_GROUP:
                        os.killpg(proc.pid, signal.SIGKILL)
                    else:
                        proc.kill()
                except OSError:
                    pass
                proc.wait()
        if exit_code != 0:
            status = "Failure"
    return {
        "op": "result", "id": request.get("id"), "status": status, "stdout": cap.stdout, "stderr": cap.stderr,
        "result": None, "result_kind": "none", "result_repr": None, "images": [], "exit_code": exit_code,
        "duration_ms": (time.perf_counter() - started) * 1000.0, "interrupted": interrupted,
    }


# ---------------------------------------------------------------------------------------------------------
# The protocol loop: a reader thread takes requests (so interrupts arrive while a cell runs); the main thread
# runs cells one at a time.
_requests = None


def _reader():
    for line in PROTO_IN:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        if request.get("op") == "interrupt":
            with _state_lock:
                running = _state["executing"]
                if running is not None and request.get("id") in (None, running):
                    signal.pthread_kill(_main_thread, signal.SIGINT)
        else:
            _requests.put(request)
    _requests.put(None)  # the host closed the pipe: shut down


def _preimport():
    started = time.perf_counter()
    errors = []
    for name in filter(None, (m.strip() for m in os.environ.get("DS_PREIMPORT", "").split(","))):
        try:
            # Imported, not bound: as on the service, a cell still says `import pandas as pd` (which is then
            # a dictionary lookup).
            importlib.import_module(name)
        except Exception as e:
            errors.append("%s: %s" % (name, e))
    return (time.perf_counter() - started) * 1000.0, errors


# What a new kernel runs once before it says it is ready (DS_WARM_UP, comma-separated): `cell` runs a trivial
# cell through the whole execution path, `describe` summarises a DataFrame, `chart` draws a figure. A forked
# kernel shares the template's memory until it writes to it; each page it first writes costs a fault and a copy.
# Paid here, while the session waits in the ready pool, the user's first cell finds them done.
_WARM_UPS = {
    "cell": "1 + 1",
    "describe": "__import__('pandas').DataFrame({'a': range(100), 'b': [0.5] * 100}).describe()",
    "chart": "__import__('matplotlib.pyplot').pyplot.plot([1, 2, 3]); __import__('matplotlib.pyplot').pyplot.title('t')",
}


def _warm_up():
    """Runs the warm-ups DS_WARM_UP names, leaving no trace: no output, no `_`, cells still count from 1."""
    global _cell_counter
    for name in filter(None, (n.strip() for n in os.environ.get("DS_WARM_UP", "").split(","))):
        code = _WARM_UPS.get(name)
        if code is None or (name != "cell" and not sys.modules.get("pandas" if name == "describe" else "matplotlib")):
            continue
        try:
            execute({"op": "exec", "id": None, "code": code})
        except BaseException:  # noqa: BLE001 - a warm-up never stops the kernel
            pass
        linecache.cache.pop("Cell In[%d]" % _cell_counter, None)
        _cell_counter = 0
        USER_NS.pop("_", None)


def start(in_fd, out_fd, preimport_ms=0.0, errors=()):
    """Talks to the host on in_fd/out_fd and runs cells until the host closes in_fd. Never returns normally
    for a forked session (the caller exits); returns when the host closes the pipe."""
    global PROTO_IN, PROTO_OUT, _devnull, _main_thread, _requests
    PROTO_IN = os.fdopen(_private_fd(in_fd), "rb", buffering=0)
    PROTO_OUT = os.fdopen(_private_fd(out_fd), "wb", buffering=0)
    global _drains
    _devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (in_fd, out_fd):
        if fd > 2:
            os.close(fd)
    os.dup2(_devnull, 0)
    _drains = (_Drain(1), _Drain(2))
    _install_streams()
    _main_thread = threading.main_thread().ident
    _requests = queue.Queue()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only a running cell may be interrupted
    sys.argv = [""]
    threading.Thread(target=_reader, daemon=True).start()
    _warm_up()
    send({"op": "ready", "pid": os.getpid(), "version": sys.version.split()[0],
          "preimport_ms": preimport_ms, "preimport_errors": list(errors)})
    while True:
        try:
            request = _requests.get()
        except KeyboardInterrupt:  # a late interrupt between cells
            continue
        if request is None:
            return
        if request.get("op") in ("exec", "shell"):
            try:
                response = execute(request) if request["op"] == "exec" else shell(request)
            except KeyboardInterrupt:
                response = {"op": "result", "id": request.get("id"), "status": "Failure", "stdout": "",
                            "stderr": "KeyboardInterrupt\n", "result": None, "images": [],
                            "duration_ms": 0.0, "interrupted": True}
            send(response)


def limit_processes():
    """RLIMIT_NPROC as the host asked (DS_NPROC), soft = hard, set from inside the sandbox: in a user
    namespace the kernel counts the processes of that namespace, so this bounds the session alone."""
    limit = os.environ.get("DS_NPROC")
    if limit:
        import resource

        # Never above the hard limit the sandbox was started with (raising it fails).
        value = int(limit)
        hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(resource.RLIMIT_NPROC, (value, value))


def main():
    limit_processes()
    preimport_ms, errors = _preimport()
    start(0, 1, preimport_ms, errors)


if __name__ == "__main__":
    main()
