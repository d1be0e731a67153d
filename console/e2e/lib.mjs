// What an end-to-end script of the console needs around its steps: Debian's Chromium driven by
// playwright-core (no browser download), a signed-in context per role, a screenshot and an
// axe-core scan (no serious or critical violation) per screen, and results.json of the steps.
// Used by e2e/queries.mjs and e2e/customs.mjs (issue 19); e2e/run.mjs (issue 18) still has the same
// helpers inline.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
export const entry = process.env.AIL_ENTRY_URL;
export const demo = JSON.parse(readFileSync(process.env.AIL_DEMO_FILE, "utf8"));
export const out = process.env.AIL_CONSOLE_ARTIFACTS ?? "e2e-artifacts";
const only = process.env.AIL_CONSOLE_STEPS?.split(",");
mkdirSync(out, { recursive: true });
// Generous: on a loaded CI machine the first parse of the bundle alone can take many seconds.
export const TIMEOUT = 90_000;
export const results = [];
let shot = 0;
let lastPage = null; // the page of the last screenshot: a failing step leaves one more of it

/** Waits (at most 10 s) until no drop-down, popup menu, tooltip or popover is open or still
 * fading out: a screenshot caught with one over the screen shows a state no reader understands
 * (session 8: the dead-letter screenshot had the state filter's list still open). */
export async function popupsClosed(page) {
  await page
    .waitForFunction(
      () => ![...document.querySelectorAll(".ant-select-dropdown, .ant-picker-dropdown, .ant-dropdown, .ant-menu-submenu-popup, .ant-tooltip, .ant-popover")]
        .some((el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden"),
      null,
      { timeout: 10_000 },
    )
    .catch(() => {
      throw new Error("a drop-down or popup is still open over the screen");
    });
}

/** Screenshot and axe scan of the screen; ``idle``: first wait (at most 10 s) until the page's
 * requests have settled (a screen that fills itself in after it shows); ``closed``: first wait
 * until no drop-down or popup is open (popupsClosed). */
export async function look(page, name, { idle = false, closed = false } = {}) {
  lastPage = page;
  shot += 1;
  if (idle) await page.waitForLoadState("networkidle", { timeout: 10_000 }).catch(() => {});
  if (closed) await popupsClosed(page);
  const file = `${out}/${String(shot).padStart(2, "0")}-${name}.png`;
  await page.screenshot({ path: file, fullPage: true });
  await page.addScriptTag({ content: AXE });
  const found = await page.evaluate(async () => {
    // The toasts fade out (opacity): caught mid-fade they fail contrast though they pass at rest.
    // eslint-disable-next-line no-undef
    const r = await axe.run({ exclude: [".ant-message"] }, { resultTypes: ["violations"] });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
  });
  if (found.length) throw new Error(`axe on ${name}: ${found.join("; ")}`);
  return file;
}

export async function step(name, fn) {
  if (only && !only.includes(name)) return;
  const t0 = Date.now();
  try {
    const note = await fn();
    results.push({ step: name, ok: true, seconds: (Date.now() - t0) / 1000, ...(note ? { note } : {}) });
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)${note ? `: ${note}` : ""}`);
  } catch (e) {
    results.push({ step: name, ok: false, error: String(e?.stack ?? e) });
    await lastPage?.screenshot({ path: `${out}/failed-${name}.png`, fullPage: true }).catch(() => {});
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
    throw e;
  }
}

/** Tick a checkbox and see it ticked. A click on a box that has just appeared (an Ant Design
 * Checkbox.Group inside a Form.Item shown by the previous choice) can be lost while the form
 * registers the field on a loaded machine: Playwright's check() then fails with "did not change
 * its state" (seen in CI, session 8). Click again until it shows ticked, as a person would. */
export async function tick(locator, tries = 5) {
  for (let i = 0; i < tries; i++) {
    if (await locator.isChecked()) return;
    await locator.click();
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      if (await locator.isChecked()) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`the checkbox stays unticked after ${tries} clicks: ${locator}`);
}

export function writeResults() {
  writeFileSync(`${out}/results.json`, JSON.stringify(results, null, 2));
}

export async function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

export async function signIn(browser, username) {
  const account = demo.console.accounts.find((a) => a.username === username);
  const ctx = await browser.newContext({ bypassCSP: true, baseURL: entry, locale: "zh-CN", viewport: { width: 1400, height: 900 }, acceptDownloads: true });
  ctx.setDefaultTimeout(TIMEOUT);
  const page = await ctx.newPage();
  await page.goto("/");
  await page.getByLabel("用户名").fill(username);
  await page.getByLabel("密码").fill(account.password);
  await page.getByRole("button", { name: /登\s*录/ }).click();
  await page.getByRole("button", { name: /退\s*出/ }).waitFor();
  lastPage = page;
  return { ctx, page };
}
