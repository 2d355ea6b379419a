"""Starts the JavaScript kernel (kernel.js) with the descriptors it expects, in place of this process.

Node cannot make pipes or move descriptors itself, so this does it before exec:

  0  /dev/null
  1  the write end of the stdout capture pipe (the code's and its child processes' output)
  2  the write end of the stderr capture pipe
  3  the requests (JSON lines from the emulator)
  4  the replies
  5  the read end of the stdout capture pipe (the kernel drains it)
  6  the read end of the stderr capture pipe
  7  the kernel's own diagnostics (the emulator logs them)

The namespaces tier's template calls `exec_node` in each JavaScript session (protocol on 3 and 4, diagnostics on
2); the other tiers run this file as a script: `python3 -I launch.py NODE KERNEL_JS [NODE_ARGS...]`, with the
protocol on stdin and stdout and diagnostics on stderr. Standard library only.
"""

import os
import sys

HIGH = 64


def exec_node(node, node_args, kernel_js, requests, replies, diagnostics, env):
    """Replaces this process with `node NODE_ARGS KERNEL_JS`; never returns."""
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    devnull = os.open(os.devnull, os.O_RDWR)
    layout = {0: devnull, 1: out_write, 2: err_write, 3: requests, 4: replies, 5: out_read, 6: err_read,
              7: diagnostics}
    # Every source is first copied above the targets, so that no target overwrites a source still to come.
    lifted = {target: os.dup2(source, HIGH + target, inheritable=False) for target, source in layout.items()}
    for target, source in lifted.items():
        os.dup2(source, target, inheritable=True)
    os.closerange(8, os.sysconf("SC_OPEN_MAX"))
    os.execve(node, [node, *node_args, kernel_js], env)


def limit_processes():
    """RLIMIT_NPROC as the host asked (DS_NPROC), soft = hard, set inside the sandbox before Node starts, as
    kernel.py does for Python: in the bubblewrap tier's user namespace the kernel counts that namespace's
    processes, so this bounds the session alone (without it, a fork bomb as an ordinary user without cgroups
    took every pid of the machine)."""
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
    if len(sys.argv) < 3:
        sys.exit("usage: launch.py NODE KERNEL_JS [NODE_ARGS...]")
    node, kernel_js, node_args = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        limit_processes()
        exec_node(node, node_args, kernel_js, 0, 1, 2, dict(os.environ))
    except (OSError, ValueError) as e:
        os.write(2, ("cannot start the JavaScript kernel with %s: %s\n" % (node, e)).encode())
        sys.exit(70)


if __name__ == "__main__":
    main()
