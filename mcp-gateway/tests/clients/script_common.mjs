// What the client scripts share: reading their settings and failing loudly.

export function requiredEnv(name) {
  const value = process.env[name];
  if (!value) fail(`${name} is not set`);
  return value;
}

export function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exit(1);
}
