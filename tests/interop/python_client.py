"""Drives an MCP server with the Python `mcp` SDK's client, in each connection mode.

Usage: python_client.py stdio <command> [args...]
       python_client.py http <url>

Runs the same checks in modes legacy, auto and 2026-07-28 against the example server's
contract (tools `add` and `count_down`, template `notes://{name}`, prompt `review`), prints one
line per check and a closing `N passed, M failed`, and exits non-zero on any failure.
"""

import asyncio
import sys
import traceback

import mcp
from mcp import StdioServerParameters

MODES = ["legacy", "auto", "2026-07-28"]


def target(argv):
    kind = argv[1]
    if kind == "stdio":
        return StdioServerParameters(command=argv[2], args=argv[3:])
    if kind == "http":
        return argv[2]
    raise SystemExit(f"unknown transport {kind!r}")


async def check_mode(server, mode, results):
    progress = []

    async def on_progress(p, total, message):
        progress.append(p)

    async with mcp.Client(server, mode=mode) as client:
        async def check(name, coro):
            try:
                await coro
                results.append((f"{mode}: {name}", None))
            except Exception as e:  # noqa: BLE001 - every failure is reported
                results.append((f"{mode}: {name}", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))

        async def list_tools():
            tools = await client.list_tools()
            names = sorted(t.name for t in tools.tools)
            assert names == ["add", "count_down"], names
            add = next(t for t in tools.tools if t.name == "add")
            assert add.input_schema["required"] == ["a", "b"], add.input_schema

        async def call_tool():
            r = await client.call_tool("add", {"a": 2, "b": 40})
            assert not r.is_error, r
            assert r.structured_content == {"result": 42.0}, r.structured_content
            assert "42" in r.content[0].text, r.content

        async def call_tool_error():
            r = await client.call_tool("add", {"a": "x", "b": 1})
            assert r.is_error, r
            # The server checks the arguments against the input schema, naming the field.
            assert "argument `a`" in r.content[0].text, r.content
            assert "number" in r.content[0].text, r.content

        async def call_with_progress():
            r = await client.call_tool("count_down", {"from": 3}, progress_callback=on_progress)
            assert r.content[0].text == "liftoff", r
            assert progress == [1.0, 2.0, 3.0], progress

        async def read_resource():
            templates = await client.list_resource_templates()
            assert templates.resource_templates[0].uri_template == "notes://{name}", templates
            r = await client.read_resource("notes://welcome")
            assert r.contents[0].text == "Welcome to the manual server.", r

        async def get_prompt():
            prompts = await client.list_prompts()
            assert [p.name for p in prompts.prompts] == ["review"], prompts
            r = await client.get_prompt("review", {"code": "fn main() {}", "language": "Rust"})
            text = r.messages[0].content.text
            assert "Rust" in text and "fn main() {}" in text, text

        async def complete():
            ref = mcp.types.ResourceTemplateReference(type="ref/resource", uri="notes://{name}")
            r = await client.complete(ref, {"name": "name", "value": "us"})
            assert r.completion.values == ["usage"], r

        await check("tools/list", list_tools())
        await check("tools/call", call_tool())
        await check("tools/call isError", call_tool_error())
        await check("tools/call with progress", call_with_progress())
        await check("resources/read", read_resource())
        await check("prompts/get", get_prompt())
        await check("completion/complete", complete())


async def main(argv):
    server = target(argv)
    results = []
    for mode in MODES:
        try:
            await asyncio.wait_for(check_mode(server, mode, results), timeout=60)
        except Exception as e:  # noqa: BLE001
            results.append((f"{mode}: connect", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    failed = 0
    for name, error in results:
        if error is None:
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}\n{error}")
    print(f"python: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv)))
