// Drives nanogpt-mcp over stdio with the official TypeScript MCP SDK.
// Usage: node e2e/stdio.mjs <binary>; NANOGPT_BASE_URL and NANOGPT_API_KEY come from the environment.
// Prints one JSON object with what it saw; the Go test (e2e_stdio_test.go) checks it.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const transport = new StdioClientTransport({ command: process.argv[2], args: [], env: process.env, stderr: "pipe" });
const client = new Client({ name: "ts-e2e", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const ok = await client.callTool({ name: "ask", arguments: { model: "m", userPrompt: "hello from ts", temperature: 0 } });
const bad = await client.callTool({ name: "ask", arguments: { model: "m", userPrompt: "x", temperature: 9 } });
console.log(JSON.stringify({
  server: client.getServerVersion(),
  tools: tools.tools.map((t) => t.name),
  ok: { isError: ok.isError ?? false, text: ok.content[0].text, structured: ok.structuredContent },
  bad: { isError: bad.isError ?? false, text: bad.content[0].text },
}));
await client.close();
