// A small static file server for the end-to-end tests: serves a folder (dist/) under a sub-path
// (e.g. /modalscope/) on 127.0.0.1 at a free port, so the tests prove the page works when it is
// not hosted at the root. Node's standard library only.
//
// Besides the folder it serves test weights under `${prefix}models/`, from `models` (a map of
// file name to { body: Buffer, delayMs?: per-64-KiB-chunk delay, cors?: bool }): a model to open
// by URL, a slow one to cancel, a truncated one.

import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
  ".msb": "application/octet-stream",
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Serves `root` under `prefix` (which starts and ends with "/").
 * Resolves to { url, port, close, requests } where `url` is the page's address and `requests`
 * lists the paths asked for (to check what the page loads).
 */
export async function serve(root, prefix = "/modalscope/", models = {}) {
  const absRoot = path.resolve(root);
  const requests = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    requests.push(url.pathname);
    // The sub-path without its slash redirects, as static hosts do.
    if (url.pathname === prefix.slice(0, -1)) {
      res.writeHead(301, { Location: prefix });
      res.end();
      return;
    }
    if (!url.pathname.startsWith(prefix)) {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end(`not found: ${url.pathname} (the page lives under ${prefix})`);
      return;
    }
    let rel = decodeURIComponent(url.pathname.slice(prefix.length));
    const model = rel.startsWith("models/") ? models[rel.slice("models/".length)] : undefined;
    if (model) {
      const headers = {
        "Content-Type": "application/octet-stream",
        "Content-Length": model.body.length,
        "Cache-Control": "no-store",
      };
      // Only for requests from the page's own origin: a page at another origin is refused by
      // the browser (no Access-Control-Allow-Origin), which the CORS test relies on.
      res.writeHead(200, headers);
      if (!model.delayMs) {
        res.end(model.body);
        return;
      }
      let closed = false;
      res.on("close", () => (closed = true));
      for (let at = 0; at < model.body.length && !closed; at += 65536) {
        res.write(model.body.subarray(at, at + 65536));
        await sleep(model.delayMs);
      }
      res.end();
      return;
    }
    if (rel === "" || rel.endsWith("/")) rel += "index.html";
    const file = path.resolve(absRoot, rel);
    if (file !== absRoot && !file.startsWith(absRoot + path.sep)) {
      res.writeHead(403);
      res.end();
      return;
    }
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new Error("not a file");
      const body = await readFile(file);
      res.writeHead(200, {
        "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
        "Content-Length": body.length,
        "Cache-Control": "no-store",
      });
      res.end(body);
    } catch {
      res.writeHead(404, { "Content-Type": "text/plain" });
      res.end(`not found: ${url.pathname}`);
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    port,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(resolve);
      }),
  };
}

// `node server.mjs [dir] [prefix]` serves until interrupted (for looking at the page by hand).
if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2] ?? "dist";
  const prefix = process.argv[3] ?? "/modalscope/";
  const { url } = await serve(dir, prefix);
  console.log(`serving ${dir} at ${url}`);
}
