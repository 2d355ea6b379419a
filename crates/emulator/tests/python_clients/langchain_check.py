"""Drive langchain-azure-dynamic-sessions' SessionsPythonREPLTool against POOL_ENDPOINT (run by crates/emulator/tests/real_python_clients.rs).

env: POOL_ENDPOINT and POOL_TOKEN (required), CA_BUNDLE (optional PEM for https; requests reads REQUESTS_CA_BUNDLE).
Prints one JSON line per check; exits 1 if any check failed.
"""
import base64
import io
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")
EP = os.environ["POOL_ENDPOINT"]
TOKEN = os.environ["POOL_TOKEN"]
if os.environ.get("CA_BUNDLE"):
    os.environ["REQUESTS_CA_BUNDLE"] = os.environ["CA_BUNDLE"]  # requests ignores SSL_CERT_FILE

from langchain_azure_dynamic_sessions import SessionsPythonREPLTool  # noqa: E402

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


tool = SessionsPythonREPLTool(pool_management_endpoint=EP, access_token_provider=lambda: TOKEN)
DATA = b"hello from langchain\n\x00\xff binary"


def t_print():
    p = tool.execute("print(6*7)")
    return p.get("status") == "Success" and p.get("stdout") == "42\n", p


def t_result():
    content = tool.invoke("x = 6 * 7\nx")  # through BaseTool.invoke (content_and_artifact)
    r = json.loads(content)["result"]
    return r in (42, "42"), content


def t_exception():
    p = tool.execute("1/0")
    text = json.dumps(p)
    return p.get("status") == "Failure" and "ZeroDivisionError" in text, p


def t_upload():
    m = tool.upload_file(data=io.BytesIO(DATA), remote_file_path="hello.txt")
    return m.filename == "hello.txt" and m.size_in_bytes == len(DATA), m


def t_list():
    files = {f.filename: f.size_in_bytes for f in tool.list_files()}
    return files.get("hello.txt") == len(DATA), files


def t_download():
    got = tool.download_file(remote_file_path="hello.txt").read()
    return got == DATA, f"{len(got)} bytes"


def t_code_sees_file():
    p = tool.execute("len(open('/mnt/data/hello.txt','rb').read())")
    return p.get("result") in (len(DATA), str(len(DATA))), p


def t_image():
    code = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1,2,3])\nplt.show()"
    p = tool.execute(code)
    if "No module named 'matplotlib'" in json.dumps(p):
        return None, "skipped: matplotlib not installed in the session"
    r = p.get("result")
    ok = isinstance(r, dict) and r.get("type") == "image" and base64.b64decode(r["base64_data"])[:8] == b"\x89PNG\r\n\x1a\n"
    return ok, {k: (v[:40] + "..." if isinstance(v, str) and len(v) > 40 else v) for k, v in (r or {}).items()} if isinstance(r, dict) else p


def t_delete_session():
    sid = tool.session_id
    tool._delete_session_sync(sid)  # DELETE {ep}/session?identifier=..&api-version=2025-10-02-preview
    files = tool.list_files()  # same identifier -> a fresh, empty session
    return files == [], f"after delete: {files}"


for name, fn in [("execute_print", t_print), ("last_expression_result", t_result), ("exception_is_failure", t_exception),
                 ("upload_file", t_upload), ("list_files", t_list), ("download_file", t_download),
                 ("code_reads_uploaded_file", t_code_sees_file), ("matplotlib_image", t_image),
                 ("delete_session", t_delete_session)]:
    check(name, fn)
sys.exit(1 if FAILED else 0)
