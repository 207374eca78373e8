"""A Python `mcp` SDK server with the same contract as our example server, for our client.

Usage: python_server.py stdio
       python_server.py http <port>     (Streamable HTTP at /mcp)
       python_server.py sse <port>      (the deprecated HTTP+SSE transport at /sse)

Tools `add` (structured output) and `count_down` (progress), `confirm` (asks the user through
elicitation), the template `notes://{name}` and the prompt `review`.
"""

import asyncio
import sys

from pydantic import BaseModel

from mcp.server.mcpserver import Context, MCPServer

app = MCPServer("python-peer", version="1.0.0", instructions="A Python peer for interop tests.")

NOTES = {"welcome": "Welcome to the manual server.", "usage": "Call `add` with `a` and `b`."}


class Sum(BaseModel):
    result: float


@app.tool()
def add(a: float, b: float) -> Sum:
    """Add two numbers."""
    return Sum(result=a + b)


@app.tool()
async def count_down(start: int, ctx: Context) -> str:
    """Counts down, reporting progress."""
    for done in range(1, start + 1):
        await ctx.report_progress(done, start, "counting")
        await asyncio.sleep(0.02)
    return "liftoff"


class Confirmation(BaseModel):
    confirm: bool


@app.tool()
async def confirm(action: str, ctx: Context) -> str:
    """Asks the user to confirm an action."""
    answer = await ctx.elicit(f"Really {action}?", Confirmation)
    if answer.action == "accept" and answer.data.confirm:
        return f"{action}: confirmed"
    return f"{action}: not confirmed"


@app.resource("notes://{name}", mime_type="text/plain")
def note(name: str) -> str:
    """Short notes, by name."""
    return NOTES[name]


@app.prompt()
def review(code: str, language: str = "code") -> str:
    """Review a piece of code."""
    return f"Please review this {language}:\n\n{code}"


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        app.run("stdio")
    elif sys.argv[1] == "sse":
        app.run("sse", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        app.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
