// flow.json, applied: which tools a client must call and with what.

/// The read-only tools to call, in flow.json's order. Fails when the server
/// lists a read-only tool flow.json has no arguments for, or flow.json
/// names one the server does not list as read-only.
export function checkCoverage(tools, flow, fail) {
  const listed = new Set(tools.filter((t) => t.annotations?.readOnlyHint === true).map((t) => t.name));
  const planned = Object.keys(flow.read_only_calls);
  const unplanned = [...listed].filter((name) => !planned.includes(name));
  if (unplanned.length) {
    fail(`read-only tools with no arguments in flow.json: ${unplanned.join(", ")}`);
  }
  const missing = planned.filter((name) => !listed.has(name));
  if (missing.length) {
    fail(`flow.json names tools the server does not list as read-only: ${missing.join(", ")}`);
  }
  return planned;
}

/// The arguments for `name`, with flow.json's placeholders filled from the
/// results seen so far (`seen` maps a tool to its structuredContent).
export function resolveArgs(flow, name, seen, fail) {
  const fill = (value) => {
    if (Array.isArray(value)) return value.map(fill);
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v)]));
    }
    switch (value) {
      case "$alert": {
        const alert = seen.list_alerts?.alerts?.[0];
        if (!alert) fail(`list_alerts gave no alert for ${name}: ${JSON.stringify(seen.list_alerts)}`);
        return alert.id;
      }
      case "$rule": {
        const rule = seen.list_alert_rules?.rules?.[0];
        if (!rule) fail(`list_alert_rules gave no rule for ${name}: ${JSON.stringify(seen.list_alert_rules)}`);
        return rule.id;
      }
      case "$new_rule":
        return flow.new_rule;
      case "$hour_ago":
        return new Date(Date.now() - 3600_000).toISOString();
      default:
        return value;
    }
  };
  return fill(flow.read_only_calls[name]);
}
