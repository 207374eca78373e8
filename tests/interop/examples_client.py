"""Drives the example servers `sqlite-analytics` and `files` with the Python `mcp` SDK's client.

Usage: examples_client.py sqlite stdio <command> [args...]
       examples_client.py sqlite http <url>
       examples_client.py files stdio <root-dir> <outside-dir> <command> [args...]
       examples_client.py files http <root-dir> <outside-dir> <url>

`sqlite` expects the sample database (made by `sqlite-analytics --sample PATH`) and a server
started with `--timeout-ms 300`. `files` expects <root-dir> to hold `src/main.rs` (three lines,
`println!` on the second), `.gitignore` (`target/`), `target/out.txt`, `.env`, `link.txt` (a
symlink to <outside-dir>/secret.txt) and `other/notes.md`; <outside-dir>/secret.txt must never be
readable. The checks run in modes legacy, auto and 2026-07-28; one line per check, then
`N passed, M failed`; exits non-zero on any failure.
"""

import asyncio
import pathlib
import sys
import traceback
import warnings

import mcp
from mcp import StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitResult, ListRootsResult, Root

MODES = ["legacy", "auto", "2026-07-28"]

# Roots are deprecated in 2026-07-28 but still what legacy clients share; this test uses them.
warnings.filterwarnings("ignore", message="The roots capability is deprecated")


def target(kind, rest):
    if kind == "stdio":
        return StdioServerParameters(command=rest[0], args=rest[1:])
    if kind == "http":
        return rest[0]
    raise SystemExit(f"unknown transport {kind!r}")


class Checks:
    def __init__(self, mode, results):
        self.mode = mode
        self.results = results

    async def __call__(self, name, coro):
        try:
            await coro
            self.results.append((f"{self.mode}: {name}", None))
        except Exception as e:  # noqa: BLE001 - every failure is reported
            self.results.append((f"{self.mode}: {name}", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


async def expect_error(coro, *fragments):
    """The request fails with a JSON-RPC error whose message holds every fragment."""
    try:
        r = await coro
    except MCPError as e:
        for f in fragments:
            assert f in e.error.message, (f, e.error)
        return e.error
    raise AssertionError(f"expected an error, got {r!r}")


def text_of(result):
    return result.content[0].text


async def sqlite_mode(server, mode, results):
    approvals = []

    async def approve(context, params):
        approvals.append(params.message)
        return ElicitResult(action="accept", content={"approve": True})

    check = Checks(mode, results)

    async with mcp.Client(server, mode=mode) as client:
        async def list_tools():
            tools = await client.list_tools()
            names = sorted(t.name for t in tools.tools)
            assert names == ["describe_table", "execute", "list_tables", "query"], names
            query = next(t for t in tools.tools if t.name == "query")
            assert query.input_schema["required"] == ["sql"], query.input_schema
            assert query.annotations.read_only_hint is True, query.annotations

        async def list_tables():
            r = await client.call_tool("list_tables", {})
            assert not r.is_error, r
            tables = {t["name"]: t["rows"] for t in r.structured_content["tables"]}
            assert sorted(tables) == ["customers", "order_items", "orders", "products"], tables
            assert tables["customers"] == 600 and tables["products"] == 25, tables
            assert tables["orders"] >= 3990, tables  # the write check deletes a few

        async def describe():
            r = await client.call_tool("describe_table", {"table": "orders"})
            assert not r.is_error, r
            columns = [c["name"] for c in r.structured_content["columns"]]
            assert columns == ["id", "customer_id", "ordered_on", "status"], columns
            fk = r.structured_content["foreign_keys"]
            assert fk == [{"column": "customer_id", "references_table": "customers", "references_column": "id"}], fk

        async def query():
            sql = "SELECT category, count(*) AS products FROM products GROUP BY category ORDER BY category"
            r = await client.call_tool("query", {"sql": sql})
            assert not r.is_error, r
            assert r.structured_content == {
                "columns": ["category", "products"],
                "rows": [["accessories", 6], ["coffee", 6], ["equipment", 7], ["tea", 6]],
                "truncated": False,
            }, r.structured_content
            assert text_of(r).startswith("| category | products |\n|---|---|\n| accessories | 6 |"), text_of(r)
            assert text_of(r).endswith("\n4 rows"), text_of(r)

        async def row_limit():
            r = await client.call_tool("query", {"sql": "SELECT id FROM orders ORDER BY id", "max_rows": 3})
            assert not r.is_error, r
            assert r.structured_content["rows"] == [[1], [2], [3]], r.structured_content
            assert r.structured_content["truncated"] is True, r.structured_content

        async def bad_sql():
            r = await client.call_tool("query", {"sql": "SELEC count(*) FROM orders"})
            assert r.is_error, r
            assert text_of(r) == 'SQLite: near "SELEC": syntax error in SELEC count(*) FROM orders at offset 0', text_of(r)

        async def writes_refused_by_the_engine():
            for sql in ["DELETE FROM orders", "DROP TABLE orders", "PRAGMA journal_mode = DELETE",
                        "ATTACH DATABASE 'other.db' AS other", "SELECT 1; DELETE FROM orders"]:
                r = await client.call_tool("query", {"sql": sql})
                assert r.is_error, (sql, r)
                assert text_of(r) == "SQLite refused the statement: not authorized (this tool only reads)", (sql, text_of(r))

        async def too_long_interrupted():
            sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
            r = await client.call_tool("query", {"sql": sql})
            assert r.is_error, r
            assert text_of(r) == "the query ran longer than 300 ms and was interrupted; narrow it or add a LIMIT", text_of(r)

        async def write_refused_without_approval():
            # This client has no elicitation: nobody can approve, so the write does not run.
            r = await client.call_tool("execute", {"sql": "DELETE FROM orders WHERE id = 1"})
            assert r.is_error, r
            assert text_of(r).startswith("not approved: this tool requires approval"), text_of(r)
            again = await client.call_tool("query", {"sql": "SELECT count(*) FROM orders WHERE id = 1"})
            assert again.structured_content["rows"] == [[1]], again.structured_content

        async def read_schema():
            templates = await client.list_resource_templates()
            uris = [t.uri_template for t in templates.resource_templates]
            assert uris == ["sqlite://tables/{table}/schema"], uris
            r = await client.read_resource("sqlite://tables/products/schema")
            assert '"name":"products"' in r.contents[0].text, r
            await expect_error(client.read_resource("sqlite://tables/nope/schema"), "not found")

        async def complete():
            ref = mcp.types.ResourceTemplateReference(type="ref/resource", uri="sqlite://tables/{table}/schema")
            r = await client.complete(ref, {"name": "table", "value": "ord"})
            assert r.completion.values == ["order_items", "orders"], r

        async def prompt():
            prompts = await client.list_prompts()
            assert [p.name for p in prompts.prompts] == ["analyze_table"], prompts
            r = await client.get_prompt("analyze_table", {"table": "customers", "focus": "countries"})
            text = r.messages[0].content.text
            assert "Analyze the SQLite table `customers`" in text and "Focus on: countries." in text, text
            await expect_error(client.get_prompt("analyze_table", {"table": "nope"}), "no table named `nope`")

        await check("tools/list", list_tools())
        await check("list_tables", list_tables())
        await check("describe_table", describe())
        await check("query: structured rows and a text table", query())
        await check("query: row limit", row_limit())
        await check("query: bad SQL is isError with SQLite's message", bad_sql())
        await check("query: writes refused by SQLite's authorizer", writes_refused_by_the_engine())
        await check("query: a long query is interrupted", too_long_interrupted())
        await check("execute: refused without approval", write_refused_without_approval())
        await check("resources: schema template", read_schema())
        await check("completion of table names", complete())
        await check("prompts/get", prompt())

    # A client whose user approves: the write runs, once per approval.
    async with mcp.Client(server, mode=mode, elicitation_callback=approve) as client:
        async def write_approved():
            victim = {"legacy": 4000, "auto": 3999, "2026-07-28": 3998}[mode]
            r = await client.call_tool("execute", {"sql": f"DELETE FROM order_items WHERE order_id = {victim}"})
            assert not r.is_error, r
            assert r.structured_content["rows_changed"] >= 1, r.structured_content
            assert len(approvals) == 1 and "execute" in approvals[0], approvals
            r = await client.call_tool("query", {"sql": f"SELECT count(*) FROM order_items WHERE order_id = {victim}"})
            assert r.structured_content["rows"] == [[0]], r.structured_content

        async def schema_change_refused():
            r = await client.call_tool("execute", {"sql": "DROP TABLE order_items"})
            assert r.is_error, r
            assert text_of(r) == "SQLite refused the statement: not authorized (this tool changes rows, not the schema)", text_of(r)

        await check("execute: runs once approved", write_approved())
        await check("execute: schema changes refused even when approved", schema_change_refused())


async def files_mode(server, root, outside, mode, results):
    root = pathlib.Path(root).resolve()
    outside = pathlib.Path(outside).resolve()
    shared = [root]

    async def list_roots(context):
        return ListRootsResult(roots=[Root(uri=p.as_uri(), name=p.name) for p in shared])

    check = Checks(mode, results)
    main_rs = (root / "src" / "main.rs").as_uri()
    secret = outside / "secret.txt"

    async with mcp.Client(server, mode=mode, list_roots_callback=list_roots, cache=None) as client:
        async def list_tools():
            tools = await client.list_tools()
            names = sorted(t.name for t in tools.tools)
            assert names == ["list_roots", "read_file", "search"], names

        async def roots():
            r = await client.call_tool("list_roots", {})
            assert not r.is_error, r
            assert r.structured_content == {"roots": [{"uri": root.as_uri() + "/", "name": root.name}]}, r

        async def search_globs():
            r = await client.call_tool("search", {})
            uris = [f["uri"] for f in r.structured_content["files"]]
            # .gitignore'd target/, hidden .env and .gitignore, and the symlink are not listed
            assert uris == [(root / "other" / "notes.md").as_uri(), main_rs], uris
            r = await client.call_tool("search", {"globs": ["**/*.rs"], "text": "println"})
            assert r.structured_content == {
                "files": [{"uri": main_rs, "lines": [{"number": 2, "text": '    println!("hi");'}]}],
                "truncated": False,
            }, r.structured_content
            r = await client.call_tool("search", {"globs": ["[bad"]})
            assert r.is_error and "bad glob `[bad`" in text_of(r), r

        async def read_lines():
            r = await client.call_tool("read_file", {"path": main_rs, "start_line": 2, "end_line": 3})
            assert not r.is_error, r
            assert r.structured_content == {
                "uri": main_rs, "start_line": 2, "end_line": 3, "total_lines": 3,
                "text": '    println!("hi");\n}',
            }, r.structured_content

        async def read_resource():
            templates = await client.list_resource_templates()
            assert [t.uri_template for t in templates.resource_templates] == ["file:///{+path}"], templates
            r = await client.read_resource(main_rs)
            assert r.contents[0].text == 'fn main() {\n    println!("hi");\n}\n', r

        async def outside_refused():
            r = await client.call_tool("read_file", {"path": str(secret)})
            assert r.is_error and text_of(r) == f"`{secret}` is outside the roots the client shares", r
            r = await client.call_tool("read_file", {"path": str(root / "link.txt")})
            assert r.is_error and "resource not found" in text_of(r), r
            r = await client.call_tool("read_file", {"path": root.as_uri() + "/../" + outside.name + "/secret.txt"})
            assert r.is_error and "`..`" in text_of(r), r
            r = await client.call_tool("read_file", {"path": root.as_uri() + "/%2e%2e/" + outside.name + "/secret.txt"})
            assert r.is_error and "secret" not in text_of(r).replace("secret.txt", ""), r
            await expect_error(client.read_resource(secret.as_uri()), "not found")
            await expect_error(client.read_resource((root / "link.txt").as_uri()), "not found")
            await expect_error(client.read_resource((root / ".env").as_uri()), "hidden")
            await expect_error(client.read_resource(root.as_uri() + "/%2e%2e/" + outside.name + "/secret.txt"))
            # and a good request is still served
            r = await client.call_tool("read_file", {"path": main_rs, "start_line": 1, "end_line": 1})
            assert r.structured_content["text"] == "fn main() {", r

        async def roots_change():
            # The client now shares the other directory only: main.rs is out of reach.
            shared[:] = [root / "other"]
            if mode == "legacy":
                await client.send_roots_list_changed()
            r = await client.call_tool("list_roots", {})
            assert r.structured_content["roots"][0]["uri"] == (root / "other").as_uri() + "/", r
            r = await client.call_tool("read_file", {"path": main_rs})
            assert r.is_error and "outside the roots" in text_of(r), r
            await expect_error(client.read_resource(main_rs), "not found")
            r = await client.call_tool("search", {})
            assert [f["uri"] for f in r.structured_content["files"]] == [(root / "other" / "notes.md").as_uri()], r
            shared[:] = [root]
            if mode == "legacy":
                await client.send_roots_list_changed()
            r = await client.call_tool("read_file", {"path": main_rs, "end_line": 1})
            assert r.structured_content["text"] == "fn main() {", r

        async def prompt():
            r = await client.get_prompt("explain_file", {"uri": main_rs})
            assert main_rs in r.messages[0].content.text, r

        await check("tools/list", list_tools())
        await check("list_roots", roots())
        await check("search: globs, ignore files, text", search_globs())
        await check("read_file: line ranges", read_lines())
        await check("resources/read", read_resource())
        await check("paths outside the roots refused", outside_refused())
        await check("roots changes respected", roots_change())
        await check("prompts/get", prompt())


async def main(argv):
    example, kind = argv[1], argv[2]
    results = []
    for mode in MODES:
        try:
            if example == "sqlite":
                coro = sqlite_mode(target(kind, argv[3:]), mode, results)
            elif example == "files":
                coro = files_mode(target(kind, argv[5:]), argv[3], argv[4], mode, results)
            else:
                raise SystemExit(f"unknown example {example!r}")
            await asyncio.wait_for(coro, timeout=60)
        except Exception as e:  # noqa: BLE001
            results.append((f"{mode}: connect", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    failed = 0
    for name, error in results:
        if error is None:
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name}\n{error}")
    print(f"python ({example}, {kind}): {len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv)))
