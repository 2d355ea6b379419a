"""Drive `dyns repl` through a pseudo-terminal, as a person would (run by crates/cli/tests/cli.rs).

argv: DYNS_BINARY OUT_DIR; the environment names the pool. Prints one JSON object: the transcript and the
checks' results. A cell defines a name, a later cell uses it, Ctrl-C stops a sleeping cell, the name survives,
a chart is saved, Ctrl-D leaves.
"""
import json
import os
import pty
import select
import sys
import time

binary, out_dir = sys.argv[1], sys.argv[2]
pid, fd = pty.fork()
if pid == 0:
    os.execv(binary, [binary, "repl", "--session", "repl-pty-session", "--out-dir", out_dir])

transcript = []
pending = [""]  # output read but not yet consumed by a read_until


def read_until(needle, seconds=60):
    """Waits for `needle` in the output not consumed yet; consumes the output through it."""
    deadline = time.time() + seconds
    while True:
        at = pending[0].find(needle)
        if at >= 0:
            seen = pending[0][: at + len(needle)]
            pending[0] = pending[0][at + len(needle):]
            return True, seen
        if time.time() >= deadline:
            return False, pending[0]
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096).decode("utf-8", "replace")
            except OSError:
                return False, pending[0]
            pending[0] += chunk
            transcript.append(chunk)


def send(text):
    os.write(fd, text.encode())


checks = {}
checks["prompt"], _ = read_until(">>> ")
send("x = 6\r")
read_until(">>> ")
send("print(x * 7)\r")
checks["state_kept"], _ = read_until("42")
read_until(">>> ")
send("import time; time.sleep(60)\r")
time.sleep(2)
send("\x03")
checks["interrupted"], _ = read_until("interrupted", 30)
read_until(">>> ")
send("for i in range(2):\r")
read_until("... ")
send("    print('line', i)\r")
read_until("... ")
send("\r")
checks["multi_line"], _ = read_until("line 1")
read_until(">>> ")
send("print('x is', x)\r")
checks["state_after_interrupt"], _ = read_until("x is 6")
read_until(">>> ")
send("import matplotlib.pyplot as plt; plt.plot([1, 2, 3])\r")
checks["chart_saved"], _ = read_until("image saved")
read_until(">>> ")
send(":files\r")
read_until(">>> ")
send("\x04")
_, status = os.waitpid(pid, 0)
checks["quit_on_ctrl_d"] = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
print(json.dumps({"checks": checks, "transcript": "".join(transcript)}))
