// Runs Portkey's gateway (its own start-server.js, unchanged) in N Node processes sharing one
// port through node:cluster, so it gets as many cores as the other targets' workers. Portkey
// itself starts one process; pm2's cluster mode does the same as this.
//
//   node portkey-cluster.mjs START_SERVER_JS WORKERS --port=PORT --headless
import cluster from "node:cluster";
import { pathToFileURL } from "node:url";

const [entry, workers] = process.argv.slice(2, 4);
if (cluster.isPrimary) {
  for (let i = 0; i < Number(workers); i++) cluster.fork();
  cluster.on("exit", (worker, code) => console.error(`portkey worker ${worker.process.pid} exited: ${code}`));
} else {
  // Portkey 1.15.2 appends its x-portkey-* headers to the upstream's streaming Response, whose
  // headers Node 20's fetch makes immutable ("TypeError: immutable", the stream fails). Re-wrap
  // only streamed answers in a Response with mutable headers (the body stream is passed as is).
  const upstreamFetch = globalThis.fetch;
  globalThis.fetch = async (...args) => {
    const response = await upstreamFetch(...args);
    if (!(response.headers.get("content-type") || "").startsWith("text/event-stream")) return response;
    const wrapped = new Response(response.body, {
      status: response.status, statusText: response.statusText, headers: new Headers(response.headers),
    });
    // Keep the original alive while its body streams (undici aborts a collected one's body).
    Object.defineProperty(wrapped, "upstream", { value: response });
    return wrapped;
  };
  // start-server.js reads --port= and --headless from process.argv, which the fork inherits.
  await import(pathToFileURL(entry).href);
}
