"""Drive a pool's MCP endpoint with the official MCP Python SDK (`mcp`, streamable HTTP client), as VS Code,
Claude or any agent would (run by crates/emulator/tests/real_python_clients.rs).

env: POOL_ENDPOINT (a Python pool's MCP endpoint), POOL_TOKEN (its x-ms-apikey), SHELL_ENDPOINT (a Shell pool's).
Prints one JSON line per check; exits 1 if any check failed.
"""
import asyncio
import json
import os
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.exceptions import McpError

EP = os.environ["POOL_ENDPOINT"]
KEY = os.environ["POOL_TOKEN"]
SHELL_EP = os.environ["SHELL_ENDPOINT"]
FAILED = []


def report(name, ok, detail):
    print(json.dumps({"check": name, "ok": ok, "detail": detail}, default=str), flush=True)
    if not ok:
        FAILED.append(name)


async def check(name, coro):
    try:
        ok, detail = await coro
    except Exception as e:  # noqa: BLE001
        ok, detail = False, f"{type(e).__name__}: {e}"
    report(name, ok, detail)


async def python_pool():
    async with streamablehttp_client(EP, headers={"x-ms-apikey": KEY}) as (read, write, _):
        async with ClientSession(read, write) as session:
            init = await session.initialize()

            async def initialized():
                return (init.serverInfo.name == "Microsoft Container Apps MCP Server"
                        and init.protocolVersion == "2025-03-26"), init.model_dump()
            await check("initialize", initialized())

            async def listed():
                names = sorted(t.name for t in (await session.list_tools()).tools)
                return names == ["launchShell", "runPythonCodeInRemoteEnvironment",
                                 "runShellCommandInRemoteEnvironment"], names
            await check("tools_list", listed())

            launched = await session.call_tool("launchShell", {})
            env = (launched.structuredContent or {}).get("environmentId")
            report("launch_shell", bool(env) and not launched.isError, launched.model_dump())

            async def python():
                await session.call_tool("runPythonCodeInRemoteEnvironment", {"environmentId": env, "pythonCode": "x = 6"})
                r = await session.call_tool("runPythonCodeInRemoteEnvironment",
                                            {"environmentId": env, "pythonCode": "print(x * 7)"})
                return r.structuredContent.get("stdout") == "42\n" and not r.isError, r.model_dump()
            await check("python_keeps_state", python())

            async def shell():
                r = await session.call_tool("runShellCommandInRemoteEnvironment",
                                            {"environmentId": env, "shellCommand": "echo hi > /mnt/data/f && cat /mnt/data/f"})
                text = r.content[0].text if r.content else ""
                return r.structuredContent.get("stdout") == "hi\n" and "hi" in text, r.model_dump()
            await check("shell_command", shell())

            async def argv():
                r = await session.call_tool("runShellCommandInRemoteEnvironment",
                                            {"environmentId": env, "execCommandAndArgs": ["printf", "%s|", "a b", "c"]})
                return r.structuredContent.get("stdout") == "a b|c|", r.model_dump()
            await check("exec_command_and_args", argv())

            async def failure():
                r = await session.call_tool("runPythonCodeInRemoteEnvironment", {"environmentId": env, "pythonCode": "1/0"})
                return r.isError and "ZeroDivisionError" in r.structuredContent.get("stderr", ""), r.model_dump()
            await check("python_error_is_an_error_result", failure())

            async def unknown_environment():
                try:
                    await session.call_tool("runPythonCodeInRemoteEnvironment",
                                            {"environmentId": "no-such-environment", "pythonCode": "1"})
                except McpError as e:
                    return "launchShell" in str(e), str(e)
                return False, "no error"
            await check("unknown_environment_is_refused", unknown_environment())


async def shell_pool():
    async with streamablehttp_client(SHELL_EP, headers={"x-ms-apikey": KEY}) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            names = sorted(t.name for t in (await session.list_tools()).tools)
            report("shell_pool_tools", names == ["launchShell", "runShellCommandInRemoteEnvironment"], names)


async def wrong_key():
    try:
        async with streamablehttp_client(EP, headers={"x-ms-apikey": "wrong"}) as (read, write, _):
            async with ClientSession(read, write) as session:
                await asyncio.wait_for(session.initialize(), 20)
    except BaseException as e:  # noqa: BLE001 - the SDK raises its transport's error (in a group)
        return True, f"{type(e).__name__}: {e}"
    return False, "initialize succeeded with a wrong key"


async def main():
    for name, step in [("python_pool", python_pool), ("shell_pool", shell_pool)]:
        try:
            await asyncio.wait_for(step(), 120)
        except BaseException as e:  # noqa: BLE001
            report(name, False, f"{type(e).__name__}: {e}")
    await check("wrong_key_is_refused", wrong_key())


asyncio.run(main())
sys.exit(1 if FAILED else 0)
