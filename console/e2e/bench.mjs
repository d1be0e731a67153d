// Benchmark: for the form page and the query page, time to interactive (navigation start to
// the page's main control answering) and the gzip size of the first load's scripts and styles,
// against a 500 KB budget. Needs the stack's environment (AIL_ENTRY_URL, AIL_DEMO_FILE):
//   set -a; . ../.devstack/<profile>/env; set +a; node e2e/bench.mjs   (or npm run bench)
// Each page is loaded AIL_BENCH_RUNS times (default 3) in a fresh page with the HTTP cache off
// (a first visit); the median is printed with every run. Exit 1 when a first load is over budget.
// A figure, not a test: on a loaded machine the times say as much about the machine as the page.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";

const BUDGET = 500 * 1024;
const RUNS = Number(process.env.AIL_BENCH_RUNS ?? 3);
const entry = process.env.AIL_ENTRY_URL;
const demo = JSON.parse(readFileSync(process.env.AIL_DEMO_FILE, "utf8"));
const acct = demo.console.accounts.find((a) => a.username === "demo-ent-a");
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const ctx = await browser.newContext({ baseURL: entry });
const r = await ctx.request.post("/api/v1/session", { data: { username: acct.username, password: acct.password } });
if (!r.ok()) throw new Error(`sign-in: ${r.status()}`);
const created = await ctx.request.post("/api/v1/applications", {
  data: { commodity_code: "2601110000" },
  headers: { "X-CSRF-Token": (await r.json()).csrf_token },
});
const app = await created.json();
const pages = [
  { name: "form", path: `/applications/${app.id}`, ready: "button:has-text('暂')" },
  { name: "query", path: "/", ready: "table tbody tr" },
];
let over = false;
const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
async function once(p) {
  const page = await ctx.newPage();
  // A routed page bypasses the HTTP cache: every run is a first visit.
  await page.route("**/*", (route) => route.continue({ headers: { ...route.request().headers(), "cache-control": "no-cache" } }));
  const sizes = [];
  page.on("response", (res) => {
    if (/\.(js|css)$/.test(new URL(res.url()).pathname) || res.request().resourceType() === "document") {
      sizes.push(res.body().then((b) => gzipSync(b).length, () => 0)); // 0: redirected or aborted
    }
  });
  const t0 = Date.now();
  await page.goto(p.path);
  // Interactive: the page's main control is there (the bundle parsed, the API answered, rendered).
  await page.locator(p.ready).first().waitFor({ timeout: 120_000 });
  const tti = Date.now() - t0;
  const nav = await page.evaluate(() => performance.getEntriesByType("navigation")[0]?.domInteractive ?? 0);
  await page.waitForLoadState("networkidle");
  const bytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
  await page.close();
  return { tti, nav: Math.round(nav), bytes };
}
for (const p of pages) {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once(p));
  const bytes = Math.max(...runs.map((r) => r.bytes));
  const verdict = bytes <= BUDGET ? "within" : "OVER";
  over ||= bytes > BUDGET;
  console.log(
    `${p.name.padEnd(6)} time to interactive ${median(runs.map((r) => r.tti))} ms median of ${RUNS} ` +
      `(${runs.map((r) => r.tti).join(", ")} ms; DOM interactive ${median(runs.map((r) => r.nav))} ms), ` +
      `first load ${(bytes / 1024).toFixed(1)} KB gzip: ${verdict} the ${BUDGET / 1024} KB budget`,
  );
}
await browser.close();
process.exit(over ? 1 : 0);
