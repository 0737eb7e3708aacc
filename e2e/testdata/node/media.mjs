// Drives a hosted nanogpt-mcp with the official TypeScript MCP SDK to check
// generated media as resources. Usage: MCP_URL=http://… MCP_TOKEN=… node media.mjs
// Prints one JSON object: the resource links and download URLs of the results,
// the URIs resources/list gave, and what resources/read returned for each link.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const transport = new StreamableHTTPClientTransport(new URL("/mcp", process.env.MCP_URL), {
  requestInit: { headers: { Authorization: `Bearer ${process.env.MCP_TOKEN}` } },
});
const client = new Client({ name: "ts-media-e2e", version: "1.0.0" });
await client.connect(transport);
const results = [
  await client.callTool({ name: "createImage", arguments: { model: "hidream", imageMessages: [{ content: "a lighthouse" }], output: "inline" } }),
  await client.callTool({ name: "createVideo", arguments: { model: "veo2-video", prompt: "waves", wait: 30 } }),
];
const links = [];
const downloads = [];
for (const r of results) {
  if (r.isError) throw new Error(JSON.stringify(r.content));
  for (const c of r.content) if (c.type === "resource_link") links.push({ uri: c.uri, mimeType: c.mimeType });
  const sc = r.structuredContent ?? {};
  for (const d of [...(sc.images ?? []), ...(sc.video ? [sc.video] : [])]) if (d.downloadUrl) downloads.push(d.downloadUrl);
}
const listed = (await client.listResources()).resources.map((r) => r.uri);
const reads = {};
for (const l of links) {
  const rr = await client.readResource({ uri: l.uri });
  reads[l.uri] = { mimeType: rr.contents[0].mimeType, blob: rr.contents[0].blob };
}
console.log(JSON.stringify({ links, downloads, listed, reads }));
await client.close();
