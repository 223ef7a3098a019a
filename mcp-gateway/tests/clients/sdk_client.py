"""The official Python MCP SDK (`mcp` 2.x) against a running gateway.

Connects with a bearer token, lists the tools, calls every read-only one,
then creates, updates and deletes a rule, as sdk_client.mjs does with the
TypeScript SDK and from the same flow.json. The SDK checks each result
against the negotiated protocol's wire schema and each structuredContent
against the tool's outputSchema itself. Exits non-zero on the first failure.

The mode is the SDK's `Client(mode=...)`:
- `auto` (its default) sends `server/discover` at 2026-07-28 and, when the
  server answers, adopts that version and goes stateless (no initialize, no
  session); anything else falls back to initialize. This run requires the
  2026-07-28 outcome.
- `legacy` forces the initialize handshake of the dated versions.

Usage: MCP_URL=http://127.0.0.1:PORT/mcp MCP_TOKEN=mcpk_... \\
    .venv/bin/python sdk_client.py --mode auto|legacy
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn

from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_MODERN_VERSION

FLOW = json.loads((Path(__file__).parent / "flow.json").read_text())


def fail(message: str) -> NoReturn:
    print(f"FAIL: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        fail(f"{name} is not set")
    return value


def resolve_args(name: str, seen: dict[str, Any]) -> Any:
    """The arguments for `name`, with flow.json's placeholders filled."""

    def fill(value: Any) -> Any:
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if value == "$alert":
            alerts = (seen.get("list_alerts") or {}).get("alerts") or []
            if not alerts:
                fail(f"list_alerts gave no alert for {name}: {seen.get('list_alerts')}")
            return alerts[0]["id"]
        if value == "$rule":
            rules = (seen.get("list_alert_rules") or {}).get("rules") or []
            if not rules:
                fail(f"list_alert_rules gave no rule for {name}: {seen.get('list_alert_rules')}")
            return rules[0]["id"]
        if value == "$new_rule":
            return FLOW["new_rule"]
        if value == "$hour_ago":
            return (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
        return value

    return fill(FLOW["read_only_calls"][name])


async def call(client: Client, name: str, args: dict[str, Any]) -> Any:
    try:
        result = await client.call_tool(name, args)
    except Exception as error:  # noqa: BLE001 - any failure of the call is the finding
        fail(f"{name}({json.dumps(args)}) raised {type(error).__name__}: {error}")
    if result.is_error:
        fail(f"{name}({json.dumps(args)}) returned a tool error: {result.content}")
    if result.structured_content is None:
        fail(f"{name} returned no structuredContent: {result}")
    return result.structured_content


async def run(mode: str) -> None:
    url = required_env("MCP_URL")
    token = required_env("MCP_TOKEN")

    def log(message: str) -> None:
        print(f"[python-sdk {mode}] {message}", flush=True)

    http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        version = client.protocol_version
        if mode == "auto" and version != LATEST_MODERN_VERSION:
            fail(f"mode auto should have discovered {LATEST_MODERN_VERSION}; it settled on {version}")
        if mode == "legacy" and (client.session.initialize_result is None or version not in HANDSHAKE_PROTOCOL_VERSIONS):
            fail(f"mode legacy should have initialized at a handshake version; it has {version}")
        log(f"connected to {client.server_info} at protocol {version}")

        listed = await client.list_tools()
        tools = listed.tools
        log(f"{len(tools)} tools listed")
        read_only = {t.name for t in tools if t.annotations is not None and t.annotations.read_only_hint is True}
        planned = list(FLOW["read_only_calls"])
        if unplanned := sorted(read_only - set(planned)):
            fail(f"read-only tools with no arguments in flow.json: {', '.join(unplanned)}")
        if missing := [n for n in planned if n not in read_only]:
            fail(f"flow.json names tools the server does not list as read-only: {', '.join(missing)}")

        seen: dict[str, Any] = {}
        for name in planned:
            seen[name] = await call(client, name, resolve_args(name, seen))
            log(f"{name} ok")

        new_rule = FLOW["new_rule"]
        created = await call(client, "create_alert_rule", new_rule)
        if not isinstance(created.get("id"), str) or created.get("name") != new_rule["name"]:
            fail(f"create_alert_rule answered {created}")
        update = FLOW["update"]
        updated = await call(client, "update_alert_rule", {"id": created["id"], **update})
        if updated.get("condition", {}).get("threshold") != update["condition"]["threshold"] or updated.get("enabled") is not False:
            fail(f"update_alert_rule did not apply {update}: {updated}")
        await call(client, "delete_alert_rule", {"id": created["id"]})
        after = await call(client, "list_alert_rules", {"limit": 200})
        if any(rule["id"] == created["id"] for rule in after["rules"]):
            fail(f"rule {created['id']} is still listed after delete_alert_rule")
        log("create_alert_rule, update_alert_rule, delete_alert_rule ok")
    log("PASS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["auto", "legacy"], default="auto")
    args = parser.parse_args()
    asyncio.run(run(args.mode))


if __name__ == "__main__":
    main()
