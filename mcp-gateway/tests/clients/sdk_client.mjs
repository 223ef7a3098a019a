// The official TypeScript MCP SDK against a running gateway: connect with a
// bearer token, list the tools, call every read-only one, then create,
// update and delete a rule. The SDK validates each structuredContent against
// the tool's outputSchema itself (Ajv), and refuses a tools/list that breaks
// its wire schema. Exits non-zero on the first failure.
//
// Usage: MCP_URL=http://127.0.0.1:PORT/mcp MCP_TOKEN=mcpk_... \
//   node sdk_client.mjs [--protocol default|2025-03-26|2025-06-18|2025-11-25]
//
// SDK 1.x has no option to pin the protocol version: Client.connect() always
// offers LATEST_PROTOCOL_VERSION in initialize and takes whatever supported
// version the server answers with. A pinned run rewrites the version offered
// in the initialize request on its way out, which is exactly what an older
// client sends; the server must then answer with that version, and every
// later request carries it in MCP-Protocol-Version.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  LATEST_PROTOCOL_VERSION,
  SUPPORTED_PROTOCOL_VERSIONS,
} from "@modelcontextprotocol/sdk/types.js";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { checkCoverage, resolveArgs } from "./flow.mjs";
import { fail, requiredEnv } from "./script_common.mjs";

const { values: options } = parseArgs({
  options: { protocol: { type: "string", default: "default" } },
});
const pinned = options.protocol === "default" ? null : options.protocol;
if (pinned && !SUPPORTED_PROTOCOL_VERSIONS.includes(pinned)) {
  fail(`this SDK does not speak ${pinned} (it knows ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")})`);
}
const url = requiredEnv("MCP_URL");
const token = requiredEnv("MCP_TOKEN");
const flow = JSON.parse(readFileSync(new URL("./flow.json", import.meta.url), "utf8"));

class PinnedTransport extends StreamableHTTPClientTransport {
  async send(message, options) {
    if (pinned && message.method === "initialize") {
      message = { ...message, params: { ...message.params, protocolVersion: pinned } };
    }
    return super.send(message, options);
  }
}


function log(message) {
  console.log(`[ts-sdk ${pinned ?? "default"}] ${message}`);
}

async function call(client, name, args) {
  let result;
  try {
    result = await client.callTool({ name, arguments: args });
  } catch (error) {
    fail(`${name}(${JSON.stringify(args)}) threw: ${error?.stack ?? error}`);
  }
  if (result.isError) {
    fail(`${name}(${JSON.stringify(args)}) returned a tool error: ${JSON.stringify(result.content)}`);
  }
  if (result.structuredContent === undefined) {
    fail(`${name} returned no structuredContent: ${JSON.stringify(result).slice(0, 500)}`);
  }
  return result.structuredContent;
}

async function main() {
  const transport = new PinnedTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: "monitors-mcp-ts-sdk-check", version: "1.0.0" });
  try {
    await client.connect(transport);
  } catch (error) {
    fail(`connect/initialize failed: ${error?.stack ?? error}`);
  }
  const negotiated = transport.protocolVersion;
  const wanted = pinned ?? LATEST_PROTOCOL_VERSION;
  if (negotiated !== wanted) {
    fail(`offered protocol ${wanted}, the server answered ${negotiated}`);
  }
  log(`connected to ${JSON.stringify(client.getServerVersion())} at protocol ${negotiated}`);

  let tools;
  try {
    ({ tools } = await client.listTools());
  } catch (error) {
    fail(`tools/list failed: ${error?.stack ?? error}`);
  }
  log(`${tools.length} tools listed`);
  const readOnly = checkCoverage(tools, flow, fail);

  const seen = {};
  for (const name of readOnly) {
    const args = resolveArgs(flow, name, seen, fail);
    seen[name] = await call(client, name, args);
    log(`${name} ok`);
  }

  const created = await call(client, "create_alert_rule", flow.new_rule);
  if (typeof created.id !== "string" || created.name !== flow.new_rule.name) {
    fail(`create_alert_rule answered ${JSON.stringify(created)}`);
  }
  const updated = await call(client, "update_alert_rule", { id: created.id, ...flow.update });
  if (updated.condition?.threshold !== flow.update.condition.threshold || updated.enabled !== false) {
    fail(`update_alert_rule did not apply ${JSON.stringify(flow.update)}: ${JSON.stringify(updated)}`);
  }
  await call(client, "delete_alert_rule", { id: created.id });
  const after = await call(client, "list_alert_rules", { limit: 200 });
  if (after.rules.some((rule) => rule.id === created.id)) {
    fail(`rule ${created.id} is still listed after delete_alert_rule`);
  }
  log("create_alert_rule, update_alert_rule, delete_alert_rule ok");

  await client.close();
  log("PASS");
}

main().catch((error) => fail(error?.stack ?? String(error)));
