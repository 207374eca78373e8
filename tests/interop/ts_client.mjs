// Drives an MCP server with the TypeScript SDK v1 client (legacy era).
//
// Usage: node ts_client.mjs stdio <command> [args...]
//        node ts_client.mjs http <url>
// MCP_TS_SDK points at the node_modules folder holding @modelcontextprotocol/sdk.
// Prints one line per check and a closing `N passed, M failed`; exits non-zero on failure.

import path from "node:path";
import { pathToFileURL } from "node:url";

const sdk = process.env.MCP_TS_SDK;
if (!sdk) {
  console.error("MCP_TS_SDK is not set");
  process.exit(2);
}
const load = (p) => import(pathToFileURL(path.join(sdk, "@modelcontextprotocol/sdk/dist/esm", p)).href);
const { Client } = await load("client/index.js");

const [kind, ...rest] = process.argv.slice(2);
let transport;
if (kind === "stdio") {
  const { StdioClientTransport } = await load("client/stdio.js");
  transport = new StdioClientTransport({ command: rest[0], args: rest.slice(1) });
} else if (kind === "http") {
  const { StreamableHTTPClientTransport } = await load("client/streamableHttp.js");
  transport = new StreamableHTTPClientTransport(new URL(rest[0]));
} else {
  console.error(`unknown transport ${kind}`);
  process.exit(2);
}

const results = [];
async function check(name, fn) {
  try {
    await fn();
    results.push([name, null]);
  } catch (e) {
    results.push([name, e?.stack ?? String(e)]);
  }
}
function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

const client = new Client({ name: "ts-interop", version: "1.0.0" }, { capabilities: {} });
const timer = setTimeout(() => {
  console.error("timed out");
  process.exit(1);
}, 60_000);

await check("connect", () => client.connect(transport));
await check("tools/list", async () => {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  assert(JSON.stringify(names) === JSON.stringify(["add", "count_down"]), JSON.stringify(names));
});
await check("tools/call", async () => {
  const r = await client.callTool({ name: "add", arguments: { a: 2, b: 40 } });
  assert(!r.isError, JSON.stringify(r));
  assert(r.structuredContent?.result === 42, JSON.stringify(r));
});
await check("tools/call with progress", async () => {
  const seen = [];
  const r = await client.callTool({ name: "count_down", arguments: { from: 3 } }, undefined, {
    onprogress: (p) => seen.push(p.progress),
  });
  assert(r.content[0].text === "liftoff", JSON.stringify(r));
  assert(JSON.stringify(seen) === "[1,2,3]", JSON.stringify(seen));
});
await check("resources/read", async () => {
  const { resourceTemplates } = await client.listResourceTemplates();
  assert(resourceTemplates[0].uriTemplate === "notes://{name}", JSON.stringify(resourceTemplates));
  const r = await client.readResource({ uri: "notes://usage" });
  assert(r.contents[0].text === "Call `add` with `a` and `b`.", JSON.stringify(r));
});
await check("prompts/get", async () => {
  const r = await client.getPrompt({ name: "review", arguments: { code: "x = 1", language: "Python" } });
  assert(r.messages[0].content.text.includes("Python"), JSON.stringify(r));
});
await check("completion/complete", async () => {
  const r = await client.complete({
    ref: { type: "ref/resource", uri: "notes://{name}" },
    argument: { name: "name", value: "we" },
  });
  assert(JSON.stringify(r.completion.values) === '["welcome"]', JSON.stringify(r));
});
await check("close", () => client.close());
clearTimeout(timer);

let failed = 0;
for (const [name, error] of results) {
  if (error === null) console.log(`ok   ${name}`);
  else {
    failed += 1;
    console.log(`FAIL ${name}\n${error}`);
  }
}
console.log(`typescript: ${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
