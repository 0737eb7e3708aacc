// Drives a hosted nanogpt-mcp (streamable HTTP or legacy SSE) with the official
// TypeScript MCP SDK. The Go tests (http_test.go, e2e_http_test.go) start the
// server, run this script and check the JSON object it prints.
//
// Environment:
//   MCP_URL           base URL of the server, e.g. http://127.0.0.1:8080
//   MCP_TRANSPORT     http (streamable HTTP at /mcp) or sse (/sse + /message)
//   MCP_TOKEN         access token ("" when the server has none)
//   MCP_TOKEN_HEADER  header for the token (default Authorization, sent as Bearer)
//   MCP_KEYS          comma-separated NanoGPT keys: one client per key, all at
//                     once, each sending its key as Authorization: Bearer
//                     (per-caller key mode). Empty: one client, no key.
//   MCP_CALLS         calls per client (default 1)
//   MCP_NEGATIVE      "1": also try a missing token, a wrong token and a foreign Origin
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const base = process.env.MCP_URL;
const kind = process.env.MCP_TRANSPORT ?? "http";
const token = process.env.MCP_TOKEN ?? "";
const tokenHeader = process.env.MCP_TOKEN_HEADER || "Authorization";
const keys = (process.env.MCP_KEYS ?? "").split(",").filter(Boolean);
const calls = Number(process.env.MCP_CALLS ?? "1");

function tokenHeaders(tok) {
  if (!tok) return {};
  return tokenHeader.toLowerCase() === "authorization" ? { Authorization: `Bearer ${tok}` } : { [tokenHeader]: tok };
}

async function connect(headers) {
  const url = new URL(kind === "sse" ? "/sse" : "/mcp", base);
  const transport = kind === "sse"
    ? new SSEClientTransport(url, { requestInit: { headers } })
    : new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  const client = new Client({ name: "ts-hosting-e2e", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

// refused reports the HTTP status a connection attempt failed with.
async function refused(headers) {
  try {
    const c = await connect(headers);
    await c.close();
    return { status: 0, message: "connected" };
  } catch (err) {
    return { status: err.code ?? -1, message: String(err.message ?? err) };
  }
}

async function session(key, label) {
  const headers = { ...tokenHeaders(token) };
  if (key) headers.Authorization = `Bearer ${key}`;
  const client = await connect(headers);
  const tools = await client.listTools();
  const results = [];
  for (let i = 0; i < calls; i++) {
    const r = await client.callTool({ name: "ask", arguments: { model: "m", userPrompt: `${label} call ${i}` } });
    results.push({ isError: r.isError ?? false, text: r.content[0]?.text ?? "" });
  }
  await client.close();
  return { label, tools: tools.tools.map((t) => t.name), server: client.getServerVersion()?.name, results };
}

const out = {};
const labels = keys.length ? keys.map((_, i) => `client${i}`) : ["client0"];
out.sessions = await Promise.all(labels.map((label, i) => session(keys[i], label)));
if (process.env.MCP_NEGATIVE === "1") {
  const withKey = keys.length ? { Authorization: `Bearer ${keys[0]}` } : {};
  out.noToken = await refused({ ...withKey });
  out.wrongToken = await refused({ ...withKey, ...tokenHeaders("wrong-token-0123456789abcdef") });
  out.foreignOrigin = await refused({ ...withKey, ...tokenHeaders(token), Origin: "https://evil.example" });
}
console.log(JSON.stringify(out));
