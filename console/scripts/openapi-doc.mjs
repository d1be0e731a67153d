// Writes openapi.json: the public API document the console's types are generated from.
// The merged document at <entry>/api/v1/openapi.json when the entry point serves one; until
// then the public routes of each service's own document (those deploy/nginx/routes.json sends
// to that service), merged here.
import { readFileSync, writeFileSync } from "node:fs";

const env = process.env;
const entry = env.AIL_ENTRY_URL;
if (!entry) throw new Error("AIL_ENTRY_URL is not set (source .devstack/<profile>/env)");
const out = process.argv[2] ?? "openapi.json";

async function get(url) {
  const r = await fetch(url);
  return r.ok ? r.json() : null;
}

let doc = await get(`${entry}/api/v1/openapi.json`);
if (!doc) {
  const routes = JSON.parse(readFileSync(new URL("../../deploy/nginx/routes.json", import.meta.url))).routes;
  const routedTo = (path) => routes.find((r) => new RegExp(r.match).test(path.replace(/\{[^}]+\}/g, "x")))?.service;
  const urls = {
    application: env.AIL_APPLICATION_URL, submission: env.AIL_SUBMISSION_URL, status: env.AIL_STATUS_URL,
    customs: env.AIL_CUSTOMS_SERVICE_URL, signer: env.AIL_SIGNER_URL, stats: env.AIL_STATS_URL,
  };
  doc = { openapi: "3.1.0", info: { title: "Automatic Import License API", version: "1" }, paths: {}, components: { schemas: {} } };
  for (const [service, url] of Object.entries(urls)) {
    const d = await get(`${url}/openapi.json`);
    for (const [path, ops] of Object.entries(d.paths)) if (routedTo(path) === service) doc.paths[path] = ops;
    Object.assign(doc.components.schemas, d.components?.schemas ?? {});
  }
}
const sorted = (v) => (Array.isArray(v) ? v.map(sorted) : v && typeof v === "object"
  ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted(v[k])])) : v);
writeFileSync(out, JSON.stringify(sorted(doc), null, 1) + "\n");
console.log(`[openapi] ${Object.keys(doc.paths).length} paths -> ${out}`);
