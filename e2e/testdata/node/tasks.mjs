// Runs createVideo as an MCP task (protocol 2025-11-25) with the official
// TypeScript SDK's task support, over stdio (MCP_COMMAND: the binary) or
// streamable HTTP (MCP_URL, MCP_TOKEN). Prints one JSON object: the tool's
// declared task support, the kinds of messages the task stream gave, and the result.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const transport = process.env.MCP_COMMAND
  ? new StdioClientTransport({ command: process.env.MCP_COMMAND, args: [], env: process.env, stderr: "pipe" })
  : new StreamableHTTPClientTransport(new URL("/mcp", process.env.MCP_URL), {
      requestInit: { headers: { Authorization: `Bearer ${process.env.MCP_TOKEN}` } },
    });
const client = new Client({ name: "ts-tasks-e2e", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const video = tools.tools.find((t) => t.name === "createVideo");
const kinds = [];
let result = null;
let error = null;
const stream = client.experimental.tasks.callToolStream(
  { name: "createVideo", arguments: { model: "veo2-video", prompt: "waves at night", output: "url" } },
  undefined,
  { task: { ttl: 60000 } },
);
for await (const m of stream) {
  kinds.push(m.type === "taskStatus" ? `taskStatus:${m.task.status}` : m.type);
  if (m.type === "result") result = { isError: m.result.isError ?? false, text: m.result.content?.[0]?.text ?? "", structured: m.result.structuredContent };
  if (m.type === "error") error = String(m.error?.message ?? m.error);
}
console.log(JSON.stringify({ execution: video?.execution ?? null, capabilities: client.getServerCapabilities()?.tasks ?? null, kinds, result, error }));
await client.close();
