// The MCP conformance suite (@modelcontextprotocol/conformance) in server
// mode against a running gateway, through a proxy that adds the bearer token
// the suite cannot send.
//
// The suite runs every scenario the requirement set names, at that
// revision's wire version, and judges the scored ones against
// conformance-expected-failures/<revision>.yml itself. It does not judge the
// ones it runs without scoring (extensions, scenarios added after the
// release), so this script judges every scenario it ran by the suite's own
// rules: each failing or warning check must be listed (by scenario, or by
// scenario:check-id), a listed check that passes is a stale entry, and every
// scenario of the set must have run. Any of those fails the run.
//
// Usage: MCP_URL=http://127.0.0.1:PORT/mcp MCP_TOKEN=mcpk_... \
//   node conformance.mjs --requirements 2025-11-25|2026-07-28 [--output-dir DIR]

import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";

import { startHeaderProxy } from "./header_proxy.mjs";
import { fail, requiredEnv } from "./script_common.mjs";

const { values: options } = parseArgs({
  options: {
    requirements: { type: "string" },
    "output-dir": { type: "string" },
  },
});
const revision = options.requirements;
if (!revision) fail("--requirements is required (2025-11-25 or 2026-07-28)");
const url = new URL(requiredEnv("MCP_URL"));
const token = requiredEnv("MCP_TOKEN");
const here = path.dirname(fileURLToPath(import.meta.url));
const suiteDir = path.dirname(
  createRequire(import.meta.url).resolve("@modelcontextprotocol/conformance/package.json"),
);
const baselineFile = path.join(here, "conformance-expected-failures", `${revision}.yml`);
if (!existsSync(baselineFile)) fail(`no expected-failures file for ${revision}: ${baselineFile}`);
const outputDir = options["output-dir"] ?? mkdtempSync(path.join(tmpdir(), `conformance-${revision}-`));


/// The server scenarios the requirement set runs, scored or not.
function scenariosOfRevision() {
  const set = parseYaml(readFileSync(path.join(suiteDir, "requirements", `${revision}.yaml`), "utf8"));
  const unscored = (set.not_scored ?? []).filter((e) => e.leg === "server").map((e) => e.scenario);
  return [...new Set([...(set.server ?? []), ...unscored])];
}

/// Each scenario's checks from the output directory, one verdict per check
/// id (the most severe of its occurrences, as the suite collapses them).
function resultsByScenario() {
  const severity = { FAILURE: 3, WARNING: 2, SUCCESS: 1, INFO: 0, SKIPPED: 0 };
  const results = new Map();
  for (const entry of readdirSync(outputDir)) {
    if (!entry.startsWith("server-")) continue;
    const scenario = entry.slice("server-".length).replace(/-\d{4}-\d{2}-\d{2}T[\d-]+Z$/, "");
    const file = path.join(outputDir, entry, "checks.json");
    // A scenario that crashed the suite leaves no checks: one failure.
    const checks = existsSync(file)
      ? JSON.parse(readFileSync(file, "utf8"))
      : [{ id: "checks-written", status: "FAILURE", errorMessage: `no ${file}` }];
    const byId = results.get(scenario) ?? new Map();
    for (const check of checks) {
      const seen = byId.get(check.id);
      if (!seen || (severity[check.status] ?? 0) > (severity[seen.status] ?? 0)) byId.set(check.id, check);
    }
    results.set(scenario, byId);
  }
  return results;
}

function judge() {
  const baseline = parseYaml(readFileSync(baselineFile, "utf8"))?.server ?? [];
  const wholesale = new Set(baseline.filter((e) => !e.includes(":")));
  const perCheck = new Set(baseline.filter((e) => e.includes(":")));
  const results = resultsByScenario();
  const problems = [];

  const missing = scenariosOfRevision().filter((s) => !results.has(s));
  for (const scenario of missing) problems.push(`${scenario}: did not run (no results in ${outputDir})`);

  let expected = 0;
  let checks = 0;
  for (const [scenario, byId] of results) {
    let scenarioFailed = false;
    for (const [id, check] of byId) {
      checks++;
      const failed = check.status === "FAILURE" || check.status === "WARNING";
      const listed = wholesale.has(scenario) || perCheck.has(`${scenario}:${id}`);
      scenarioFailed ||= failed;
      if (failed && listed) expected++;
      if (failed && !listed) {
        const detail = check.errorMessage || JSON.stringify(check.details ?? {}).slice(0, 2000);
        problems.push(`${scenario}:${id} ${check.status}: ${detail}`);
      }
      if (!failed && check.status === "SUCCESS" && perCheck.has(`${scenario}:${id}`)) {
        problems.push(`${scenario}:${id} passes but is listed in ${path.basename(baselineFile)}: remove it`);
      }
    }
    if (wholesale.has(scenario) && !scenarioFailed) {
      problems.push(`${scenario} passes but is listed in ${path.basename(baselineFile)}: remove it`);
    }
  }
  console.log(
    `\nconformance ${revision}: ${results.size} scenarios, ${checks} checks, ${expected} expected failures, ${problems.length} problems`,
  );
  for (const problem of problems) console.log(`  ✗ ${problem}`);
  return problems.length === 0;
}

const proxy = await startHeaderProxy(url.origin, token);
const args = [
  path.join(suiteDir, "dist/index.js"),
  "server",
  "--url",
  `${proxy.origin}${url.pathname}`,
  "--requirements",
  revision,
  "--expected-failures",
  baselineFile,
  "--output-dir",
  outputDir,
];
console.log(`conformance ${revision} against ${url.href} through ${proxy.origin}; results in ${outputDir}`);
const child = spawn(process.execPath, args, { stdio: "inherit", env: { ...process.env, NO_COLOR: "1" } });
child.on("exit", (code, signal) => {
  proxy.close();
  if (signal) fail(`the conformance suite was killed by ${signal}`);
  const judged = judge();
  if (code !== 0) fail(`the conformance suite exited with ${code} (its verdict on the scored scenarios, above)`);
  if (!judged) fail(`conformance ${revision}: unexpected failures, stale entries or missing scenarios (above)`);
  console.log(`conformance ${revision}: PASS`);
});
