// A reverse proxy on loopback that adds `Authorization: Bearer <token>` to
// every request and passes everything else through unchanged, Host and
// Origin included (so the gateway's DNS-rebinding checks still see what the
// caller sent), streaming bodies both ways (SSE included). For callers that
// cannot send a header of their own, such as the conformance suite.

import http from "node:http";

/// Starts the proxy in front of `target` (an origin, e.g.
/// http://127.0.0.1:8080); resolves to its own origin once listening.
export function startHeaderProxy(target, token) {
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    const headers = { ...req.headers, authorization: `Bearer ${token}` };
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
      },
    );
    forward.on("error", (error) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`header proxy: ${error.message}`);
    });
    // A caller that hangs up (the end of an SSE stream it was reading)
    // hangs up upstream too.
    res.on("close", () => forward.destroy());
    req.pipe(forward);
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({ origin: `http://127.0.0.1:${port}`, close: () => server.close() });
    });
  });
}
