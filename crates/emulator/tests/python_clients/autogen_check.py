"""Drive autogen-ext's ACADynamicSessionsCodeExecutor against POOL_ENDPOINT (run by crates/emulator/tests/real_python_clients.rs).

env: POOL_ENDPOINT and POOL_TOKEN (required), CA_BUNDLE (optional PEM for https; aiohttp builds its default SSLContext with
ssl.create_default_context() at import time, which reads SSL_CERT_FILE, so it is set before the import).
Prints one JSON line per check; exits 1 if any check failed.
"""
import asyncio
import json
import os
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")
EP = os.environ["POOL_ENDPOINT"]
TOKEN = os.environ["POOL_TOKEN"]
if os.environ.get("CA_BUNDLE"):
    os.environ["SSL_CERT_FILE"] = os.environ["CA_BUNDLE"]

from autogen_core import CancellationToken  # noqa: E402
from autogen_core.code_executor import CodeBlock  # noqa: E402
from autogen_ext.code_executors.azure import ACADynamicSessionsCodeExecutor  # noqa: E402
from azure.core.credentials import AccessToken  # noqa: E402

FAILED = []


class FakeCredential:  # satisfies autogen_ext's TokenProvider protocol
    def get_token(self, *scopes, **kwargs):
        return AccessToken(TOKEN, int(time.time()) + 3600)


async def check(name, fn):
    try:
        ok, detail = await fn()
    except Exception as e:  # noqa: BLE001
        ok, detail = False, f"{type(e).__name__}: {e!r} cause={e.__cause__!r}"
    rec = {"check": name, "ok": ok, "detail": detail}
    if ok is None:
        rec["skipped"] = True
    print(json.dumps(rec, default=str), flush=True)
    if ok is False:
        FAILED.append(name)


async def main():
    work = tempfile.mkdtemp(prefix="autogen-")
    ex = ACADynamicSessionsCodeExecutor(pool_management_endpoint=EP, credential=FakeCredential(), work_dir=work, timeout=60)
    await ex.start()
    ct = CancellationToken()
    DATA = b"hello from autogen\n"

    async def run(code):
        return await ex.execute_code_blocks([CodeBlock(code=code, language="python")], ct)

    async def t_print():  # first call also runs the pkg_resources listing and os.chdir('/mnt/data')
        r = await run("print(6*7)")
        return r.exit_code == 0 and "42" in r.output, r

    async def t_result():
        r = await run("x = 6 * 7\nx")
        return r.exit_code == 0 and r.output.strip() == "42", r

    async def t_exception():
        r = await run("1/0")
        return r.exit_code == 1 and "ZeroDivisionError" in r.output, r

    async def t_packages():
        pkgs = await ex.get_available_packages(ct)
        # AutoGen parses str(result) by stripping "[]" and splitting on ",\n" (IPython's pretty text/plain layout)
        return "pip" in pkgs, f"{len(pkgs)} parsed entries: {str(sorted(pkgs))[:160]}"

    async def t_upload_list():
        with open(os.path.join(work, "hello.txt"), "wb") as f:
            f.write(DATA)
        await ex.upload_files(["hello.txt"], ct)
        names = await ex.get_file_list(ct)
        return "hello.txt" in names, names

    async def t_download():
        os.remove(os.path.join(work, "hello.txt"))
        paths = await ex.download_files(["hello.txt"], ct)
        return open(paths[0], "rb").read() == DATA, paths

    async def t_code_sees_file():  # cwd is /mnt/data after the executor's setup
        r = await run("print(open('hello.txt').read(), end='')")
        return r.exit_code == 0 and r.output == DATA.decode(), r

    async def t_image():
        code = "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\nplt.plot([1,2,3])\nplt.show()"
        r = await run(code)
        if "No module named 'matplotlib'" in r.output:
            return None, "skipped: matplotlib not installed in the session"
        return r.exit_code == 0 and "'type': 'image'" in r.output, r.output[:300]

    for name, fn in [("execute_print", t_print), ("last_expression_result", t_result),
                     ("exception_is_failure", t_exception), ("available_packages", t_packages),
                     ("upload_and_list_files", t_upload_list), ("download_file", t_download),
                     ("code_reads_uploaded_file", t_code_sees_file), ("matplotlib_image", t_image)]:
        await check(name, fn)
    await ex.stop()


asyncio.run(main())
sys.exit(1 if FAILED else 0)
