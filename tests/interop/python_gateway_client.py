"""Drives mcp-gateway (fronting the Python example server and the TypeScript server-everything,
examples/gateway/interop.toml) with the Python `mcp` SDK's client over one HTTP endpoint.

Usage: python_gateway_client.py <url>

Runs the same checks in modes legacy, auto and 2026-07-28: tools of both upstreams are listed
and called, progress (from the Python server in the modern era) and elicitation (from it in the
legacy era) pass through the gateway; a resource subscription is made at server-everything
and its updates come back; a modern caller reaches the legacy-only server-everything
and a legacy caller the modern upstream. Prints one line per check and a
closing `N passed, M failed`; exits non-zero on any failure.
"""

import asyncio
import sys
import traceback
import warnings

import mcp
from mcp import types
from mcp.client.subscriptions import ListenNotSupportedError

MODES = ["legacy", "auto", "2026-07-28"]


async def check_mode(url, mode, results):
    progress = []
    asked = []

    async def on_progress(p, total, message):
        progress.append(p)

    async def on_elicit(context, params):
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True})

    updated = []
    got_update = asyncio.Event()

    async def on_message(message):
        message = getattr(message, "root", message)
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(message.params.uri)
            got_update.set()

    async with mcp.Client(url, mode=mode, elicitation_callback=on_elicit, message_handler=on_message) as client:
        async def check(name, coro):
            try:
                await coro
                results.append((f"{mode}: {name}", None))
            except Exception as e:  # noqa: BLE001 - every failure is reported
                results.append((f"{mode}: {name}", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))

        async def list_tools():
            names = {t.name for t in (await client.list_tools()).tools}
            for want in ["python__add", "python__confirm", "pymodern__count_down", "everything__echo", "everything__get-sum"]:
                assert want in names, sorted(names)

        async def call_python():
            # The same server behind a legacy and a modern connection.
            for name in ["python__add", "pymodern__add"]:
                r = await client.call_tool(name, {"a": 2, "b": 40})
                assert not r.is_error, r
                assert r.structured_content == {"result": 42.0}, (name, r.structured_content)

        async def call_everything():
            r = await client.call_tool("everything__echo", {"message": "through the gateway"})
            assert not r.is_error, r
            assert "through the gateway" in r.content[0].text, r.content
            r = await client.call_tool("everything__get-sum", {"a": 2, "b": 3})
            assert "5" in r.content[0].text, r.content

        async def call_with_progress():
            r = await client.call_tool("pymodern__count_down", {"start": 3}, progress_callback=on_progress)
            assert r.content[0].text == "liftoff", r
            assert progress == [1.0, 2.0, 3.0], progress

        async def call_with_elicitation():
            r = await client.call_tool("python__confirm", {"action": "deploy"})
            assert r.content[0].text == "deploy: confirmed", r
            assert asked == ["Really deploy?"], asked

        async def toggle_updates(on):
            # server-everything's switch is per upstream session, which every caller shares.
            for _ in range(2):
                r = await client.call_tool("everything__toggle-subscriber-updates", {})
                if r.content[0].text.startswith("Started" if on else "Stopped"):
                    return
            raise AssertionError(r.content)

        async def resource_updates():
            # server-everything sends updates only to a subscribed session: the gateway must
            # subscribe upstream for its caller. It sends one as updates start, then every 5 s.
            uri = "everything+demo://resource/static/document/architecture.md"
            try:
                async with client.listen(resource_subscriptions=[uri]) as sub:
                    await toggle_updates(True)
                    event = await asyncio.wait_for(anext(aiter(sub)), timeout=15)
                    assert uri in str(event), event
            except ListenNotSupportedError:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    await client.subscribe_resource(uri)
                await toggle_updates(True)
                await asyncio.wait_for(got_update.wait(), timeout=15)
                assert uri in updated, updated
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    await client.unsubscribe_resource(uri)
            finally:
                await toggle_updates(False)

        await check("tools/list (both upstreams)", list_tools())
        await check("tools/call python (structured)", call_python())
        await check("tools/call everything", call_everything())
        await check("tools/call with progress", call_with_progress())
        await check("tools/call with elicitation", call_with_elicitation())
        await check("resource subscription (updates from server-everything)", resource_updates())


async def main(argv):
    results = []
    for mode in MODES:
        try:
            await asyncio.wait_for(check_mode(argv[1], mode, results), timeout=60)
        except Exception as e:  # noqa: BLE001
            results.append((f"{mode}: connect", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    failed = 0
    for name, error in results:
        if error is None:
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}\n{error}")
    print(f"python through the gateway: {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv)))
