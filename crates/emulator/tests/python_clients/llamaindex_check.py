"""Drive llama-index-tools-azure-code-interpreter's AzureCodeInterpreterToolSpec against POOL_ENDPOINT (run by crates/emulator/tests/real_python_clients.rs).

env: POOL_ENDPOINT and POOL_TOKEN (required), CA_BUNDLE (optional PEM for https; requests reads REQUESTS_CA_BUNDLE).
Prints one JSON line per check; exits 1 if any check failed.
"""
import json
import os
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
EP = os.environ["POOL_ENDPOINT"]
TOKEN = os.environ["POOL_TOKEN"]
if os.environ.get("CA_BUNDLE"):
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["CA_BUNDLE"]

from llama_index.tools.azure_code_interpreter import AzureCodeInterpreterToolSpec  # noqa: E402

FAILED = []


def check(name, fn):
    try:
        ok, detail = fn()
    except Exception as e:  # noqa: BLE001
        resp = getattr(e, "response", None)
        ok, detail = False, f"{type(e).__name__}: {e}" + (f" | body: {resp.text[:300]}" if resp is not None else "")
    rec = {"check": name, "ok": ok, "detail": detail}
    if ok is None:
        rec["skipped"] = True
    print(json.dumps(rec, default=str), flush=True)
    if ok is False:
        FAILED.append(name)


work = tempfile.mkdtemp(prefix="llamaidx-")
spec = AzureCodeInterpreterToolSpec(pool_management_endpoint=EP, local_save_path=work)
spec.access_token_provider = lambda: TOKEN  # plain instance attribute; default uses DefaultAzureCredential
DATA = b"hello from llamaindex\n"
local = os.path.join(work, "hello.txt")
with open(local, "wb") as f:
    f.write(DATA)


def t_print():
    p = spec.code_interpreter("print(6*7)")["properties"]
    return p.get("status") == "Success" and p.get("stdout") == "42\n", p


def t_result():
    tool = {t.metadata.name: t for t in spec.to_tool_list()}["code_interpreter"]  # the FunctionTool an agent calls
    out = tool.call(python_code="x = 6 * 7\nx")
    r = out.raw_output["properties"]["result"]
    return r in (42, "42"), out.raw_output


def t_exception():
    p = spec.code_interpreter("1/0")["properties"]
    return p.get("status") == "Failure" and "ZeroDivisionError" in json.dumps(p), p


def t_upload():
    # upload_file(data=...) without local_file_path raises UnboundLocalError in 0.7.0 (client bug): use a local file
    metas = spec.upload_file(local_file_path=local)  # multipart filename is "/mnt/data/hello.txt"
    return [(m.filename, m.size_in_bytes) for m in metas] in ([("hello.txt", len(DATA))], [("/mnt/data/hello.txt", len(DATA))]), metas


def t_list():
    files = {m.file_full_path: m.size_in_bytes for m in spec.list_files()}
    return files.get("/mnt/data/hello.txt") == len(DATA), files


def t_download():
    got = spec.download_file_to_local("/mnt/data/hello.txt").read()  # client strips the /mnt/data/ prefix
    return got == DATA, f"{len(got)} bytes"


def t_code_sees_file():
    p = spec.code_interpreter("open('/mnt/data/hello.txt').read()")["properties"]
    return p.get("result") in (DATA.decode(), repr(DATA.decode())), p


def t_image():
    code = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1,2,3])\nplt.show()"
    resp = spec.code_interpreter(code)
    p = resp["properties"]
    if "No module named 'matplotlib'" in json.dumps(p):
        return None, "skipped: matplotlib not installed in the session"
    saved = [f for f in os.listdir(work) if f.endswith(".png")]
    png = saved and open(os.path.join(work, saved[0]), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    return bool(png) and p["result"].get("saved_to_local_path") is True, {"result": p.get("result"), "saved": saved}


for name, fn in [("execute_print", t_print), ("last_expression_result", t_result), ("exception_is_failure", t_exception),
                 ("upload_file", t_upload), ("list_files", t_list), ("download_file", t_download),
                 ("code_reads_uploaded_file", t_code_sees_file), ("matplotlib_image", t_image)]:
    check(name, fn)
sys.exit(1 if FAILED else 0)
