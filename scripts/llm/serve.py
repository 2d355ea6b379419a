#!/usr/bin/env python3
"""Serve a GGUF model through llama.cpp's OpenAI-compatible HTTP server (xllamacpp).

usage: serve.py --model PATH --port N [--host 127.0.0.1] [--threads 1] [--ctx 8192]
                [--parallel 1] [--alias NAME] [--verbosity N]

Runs until SIGTERM/SIGINT. Prints one line
    READY http://127.0.0.1:N model=<alias> load_s=<seconds>
on stdout (flushed) once GET /health returns 200 and GET /v1/models lists the model.
--port 0 lets the OS pick a free port; the READY line carries the real one.

Needs: pip install xllamacpp==0.2.14 (run with that venv's python).
Endpoints: /v1/chat/completions (tools + tool_choice via the GGUF's jinja chat template),
/v1/completions, /v1/models, /health, /props, /slots, /tokenize ...
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.request


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="path to a .gguf file")
    ap.add_argument("--port", type=int, required=True, help="TCP port (0 = pick a free one)")
    ap.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1, loopback only)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads for generation and prompt processing (default 1)")
    ap.add_argument("--ctx", type=int, default=8192, help="context size in tokens (default 8192)")
    ap.add_argument("--parallel", type=int, default=1, help="server slots (default 1)")
    ap.add_argument("--alias", default=None, help="model id reported by /v1/models (default: file name)")
    ap.add_argument("--verbosity", type=int, default=3, help="llama.cpp log verbosity threshold (default 3 = info)")
    ap.add_argument("--ready-timeout", type=float, default=120.0, help="seconds to wait for /health after load")
    return ap.parse_args()


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode("utf-8", "replace")


def main():
    a = parse_args()
    if not os.path.isfile(a.model):
        sys.exit(f"serve.py: model file not found: {a.model}")

    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = os.path.abspath(a.model)
    p.hostname = a.host
    p.port = a.port
    p.n_ctx = a.ctx
    p.n_parallel = a.parallel          # 1 slot; a negative value would mean "auto" = 4 slots
    p.kv_unified = False
    p.cont_batching = True
    p.cpuparams.n_threads = a.threads  # generation threads (-t)
    p.cpuparams_batch.n_threads = a.threads  # prompt-processing threads (-tb)
    p.n_threads_http = 2               # HTTP worker threads (I/O only)
    p.use_jinja = True                 # jinja chat template -> tools / tool_choice support
    p.enable_chat_template = True
    p.verbosity = a.verbosity
    p.use_mmap = True
    if a.alias:
        p.model_alias = {a.alias}  # a set[str]; assigning a bare str yields a set of its characters
    t0 = time.time()
    try:
        server = xlc.Server(p)  # blocks until HTTP is listening and the model is loaded
    except RuntimeError as e:  # port in use, unreadable/invalid GGUF, ...: details are in the log above
        print(f"serve.py: failed to start llama.cpp server on {a.host}:{a.port}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    load_s = time.time() - t0
    base = server.listening_address.rstrip("/")  # e.g. "http://127.0.0.1:8080"
    if not base.startswith("http"):
        base = "http://" + base

    # wait for /health and /v1/models
    deadline = time.time() + a.ready_timeout
    model_id = None
    last_err = None
    while time.time() < deadline:
        try:
            st, _ = http_get(base + "/health")
            if st == 200:
                st, body = http_get(base + "/v1/models")
                if st == 200:
                    data = json.loads(body).get("data") or []
                    if data:
                        model_id = data[0].get("id")
                        break
        except Exception as e:  # noqa: BLE001 - keep polling
            last_err = e
        time.sleep(0.2)
    if model_id is None:
        print(f"serve.py: server did not become ready: {last_err}", file=sys.stderr, flush=True)
        del server
        sys.exit(1)

    print(f"READY {base} model={model_id} load_s={load_s:.1f}", flush=True)

    stop = threading.Event()

    def on_signal(signum, _frame):
        print(f"serve.py: signal {signum}, shutting down", file=sys.stderr, flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, on_signal)
    while not stop.wait(1.0):
        pass
    del server  # Server::~Server terminates the loop and joins the server thread
    print("serve.py: stopped", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
