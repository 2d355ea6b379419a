"""Drive semantic-kernel's SessionsPythonTool against POOL_ENDPOINT (run by crates/emulator/tests/real_python_clients.rs).

env: POOL_ENDPOINT and POOL_TOKEN (required), CA_BUNDLE (optional PEM for https; httpx 0.28 reads SSL_CERT_FILE).
SK only accepts https endpoints (pydantic HttpsUrl). For an http:// endpoint the script records that rejection,
then runs the checks with an https:// URL and an injected httpx client whose transport rewrites the scheme back
to http (the only way to reach a plain-http emulator without patching SK).
Prints one JSON line per check; exits 1 if any check failed.
"""
import asyncio
import json
import os
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")
EP = os.environ["POOL_ENDPOINT"]
TOKEN = os.environ["POOL_TOKEN"]
if os.environ.get("CA_BUNDLE"):
    os.environ["SSL_CERT_FILE"] = os.environ["CA_BUNDLE"]  # honoured by httpx's default verify=True (trust_env)

import httpx  # noqa: E402
from semantic_kernel import Kernel  # noqa: E402
from semantic_kernel.core_plugins.sessions_python_tool import SessionsPythonTool  # noqa: E402

FAILED = []


def report(name, ok, detail):
    rec = {"check": name, "ok": ok, "detail": detail}
    if ok is None:
        rec["skipped"] = True
    print(json.dumps(rec, default=str), flush=True)
    if ok is False:
        FAILED.append(name)


async def check(name, fn):
    try:
        ok, detail = await fn()
    except Exception as e:  # noqa: BLE001
        ok, detail = False, f"{type(e).__name__}: {e}"
    report(name, ok, detail)


class HttpsToHttp(httpx.AsyncBaseTransport):
    def __init__(self):
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request):
        request.url = request.url.copy_with(scheme="http")
        return await self.inner.handle_async_request(request)


work = tempfile.mkdtemp(prefix="sk-")
DATA = b"hello from semantic kernel\n"
local = os.path.join(work, "hello.txt")
with open(local, "wb") as f:
    f.write(DATA)


def make_tool():
    kw = dict(auth_callback=lambda: TOKEN, enable_dangerous_file_uploads=True, allowed_upload_directories=[work])
    if EP.startswith("http://"):
        # same 5 s timeout as SK's default AsyncClient(timeout=5)
        return SessionsPythonTool(pool_management_endpoint="https://" + EP[len("http://"):],
                                  http_client=httpx.AsyncClient(timeout=5, transport=HttpsToHttp()), **kw)
    return SessionsPythonTool(pool_management_endpoint=EP, **kw)  # SK's own default httpx client


async def main():
    if EP.startswith("http://"):
        try:
            SessionsPythonTool(pool_management_endpoint=EP, auth_callback=lambda: "t")
            report("http_endpoint_rejected", False, "SK accepted an http:// endpoint")
        except Exception as e:  # noqa: BLE001
            report("http_endpoint_rejected", True, f"{type(e).__name__}: {str(e)[:300]}")
    tool = make_tool()
    kernel = Kernel()
    kernel.add_plugin(tool, "python")

    async def t_print():
        out = await tool.execute_code("print(6*7)")
        return "Status:\nSuccess" in out and "Stdout:\n42\n" in out, out

    async def t_result():
        res = await kernel.invoke(plugin_name="python", function_name="execute_code", code="x = 6 * 7\nx")
        return "Result:\n42\n" in str(res), str(res)

    async def t_exception():
        out = await tool.execute_code("1/0")
        return "Status:\nFailure" in out and "ZeroDivisionError" in out, out

    async def t_upload():  # after execute_code: the client now carries a sticky Content-Type: application/json
        m = await tool.upload_file(local_file_path=local, remote_file_path="hello.txt")
        return (m.filename in ("hello.txt", "/mnt/data/hello.txt") and m.size_in_bytes == len(DATA)), m

    async def t_upload_fresh():  # a new tool + httpx client that has not executed code yet, same session
        t2 = make_tool()
        t2.settings.session_id = tool.settings.session_id
        m = await t2.upload_file(local_file_path=local, remote_file_path="hello.txt")
        return m.size_in_bytes == len(DATA), m

    async def t_list():
        files = {f.full_path: f.size_in_bytes for f in await tool.list_files()}
        return files.get("/mnt/data/hello.txt") == len(DATA), files

    async def t_download():
        got = (await tool.download_file(remote_file_name="hello.txt")).read()
        return got == DATA, f"{len(got)} bytes"

    async def t_code_sees_file():
        out = await tool.execute_code("len(open('/mnt/data/hello.txt','rb').read())")
        return f"Result:\n{len(DATA)}\n" in out, out

    async def t_image():
        code = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1,2,3])\nplt.show()"
        out = await tool.execute_code(code)
        if "No module named 'matplotlib'" in out:
            return None, "skipped: matplotlib not installed in the session"
        return "Status:\nSuccess" in out and "'type': 'image'" in out and "iVBOR" in out, out[:300]

    for name, fn in [("execute_print", t_print), ("last_expression_result_via_kernel", t_result),
                     ("exception_is_failure", t_exception), ("upload_file_after_execute", t_upload),
                     ("upload_file_fresh_client", t_upload_fresh), ("list_files", t_list),
                     ("download_file", t_download), ("code_reads_uploaded_file", t_code_sees_file),
                     ("matplotlib_image", t_image)]:
        await check(name, fn)


asyncio.run(main())
sys.exit(1 if FAILED else 0)
