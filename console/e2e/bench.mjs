// Benchmark: for the form page and the query page, time to interactive (navigation start to
// the page's main control answering) and the gzip size of the first load's scripts and styles,
// against a 500 KB budget. Needs the stack's environment (AIL_ENTRY_URL, AIL_DEMO_FILE).
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";

const BUDGET = 500 * 1024;
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
for (const p of pages) {
  const page = await ctx.newPage();
  await page.route("**/*", (route) => route.continue({ headers: { ...route.request().headers(), "cache-control": "no-cache" } }));
  let bytes = 0;
  page.on("response", async (res) => {
    if (/\.(js|css)$/.test(new URL(res.url()).pathname) || res.request().resourceType() === "document") {
      try { bytes += gzipSync(await res.body()).length; } catch { /* redirected or aborted */ }
    }
  });
  const t0 = Date.now();
  await page.goto(p.path);
  await page.locator(p.ready).first().waitFor({ timeout: 60_000 });
  const tti = Date.now() - t0;
  const nav = await page.evaluate(() => performance.getEntriesByType("navigation")[0]?.domInteractive ?? 0);
  await page.waitForLoadState("networkidle");
  const verdict = bytes <= BUDGET ? "within" : "OVER";
  over ||= bytes > BUDGET;
  console.log(`${p.name.padEnd(6)} time to interactive ${tti} ms (DOM interactive ${Math.round(nav)} ms), first load ${(bytes / 1024).toFixed(1)} KB gzip: ${verdict} the ${BUDGET / 1024} KB budget`);
  await page.close();
}
await browser.close();
process.exit(over ? 1 : 0);
