// The console's end-to-end journey in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core: no browser download) against the running stack through the entry point.
// Run by tests/e2e/console/test_console_browser.py (./dev test); by hand:
//   AIL_ENTRY_URL=... AIL_DEMO_FILE=... AIL_MOFCOM_URL=... node e2e/run.mjs
// Each step saves a screenshot in $AIL_CONSOLE_ARTIFACTS and scans the screen with axe-core
// (no serious or critical violation). One browser; one signed-in context per role.
import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const entry = process.env.AIL_ENTRY_URL;
const demo = JSON.parse(readFileSync(process.env.AIL_DEMO_FILE, "utf8"));
const mofcom = process.env.AIL_MOFCOM_URL;
const out = process.env.AIL_CONSOLE_ARTIFACTS ?? "e2e-artifacts";
const only = process.env.AIL_CONSOLE_STEPS?.split(",");
mkdirSync(out, { recursive: true });
const account = (u) => demo.console.accounts.find((a) => a.username === u);
const today = new Date();
const isoIn = (days) => new Date(today.getTime() + days * 86400e3).toISOString().slice(0, 10);
const results = [];
// Generous: on a loaded CI machine the first parse of the bundle alone can take many seconds.
const TIMEOUT = 90_000;
let shot = 0;

let lastPage = null; // the page of the last screenshot: a failing step leaves one more of it
async function look(page, name) {
  lastPage = page;
  shot += 1;
  const file = `${out}/${String(shot).padStart(2, "0")}-${name}.png`;
  await page.screenshot({ path: file, fullPage: true });
  await page.addScriptTag({ content: AXE });
  const found = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    // The toasts fade out (opacity): caught mid-fade they fail contrast though they pass at rest.
    const r = await axe.run({ exclude: [".ant-message"] }, { resultTypes: ["violations"] });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
  });
  if (found.length) throw new Error(`axe on ${name}: ${found.join("; ")}`);
  return file;
}

async function step(name, fn) {
  if (only && !only.includes(name)) return;
  const t0 = Date.now();
  try {
    await fn();
    results.push({ step: name, ok: true, seconds: (Date.now() - t0) / 1000 });
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push({ step: name, ok: false, error: String(e?.stack ?? e) });
    await lastPage?.screenshot({ path: `${out}/failed-${name}.png`, fullPage: true }).catch(() => {});
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
    throw e;
  }
}

async function signIn(browser, username) {
  const ctx = await browser.newContext({ bypassCSP: true, baseURL: entry, locale: "zh-CN", viewport: { width: 1400, height: 900 } });
  ctx.setDefaultTimeout(TIMEOUT);
  const page = await ctx.newPage();
  await page.goto("/");
  await page.getByLabel("用户名").fill(username);
  await page.getByLabel("密码").fill(account(username).password);
  await page.getByRole("button", { name: /登\s*录/ }).click();
  await page.getByRole("button", { name: /退\s*出/ }).waitFor();
  return { ctx, page };
}

/** A code-table select: type (code, letters or Chinese), Enter picks the first match. */
async function pick(page, label, typed, scope = page) {
  // Ant Design puts the aria-label on the select's root; the search input is inside it.
  // scope: a dialog whose field has the same label as one of the form behind it.
  const found = scope.getByLabel(label, { exact: true }).first();
  await found.waitFor();
  const box = (await found.evaluate((e) => e.tagName)) === "INPUT" ? found : found.locator("input").first();
  // A select that already shows a value (a default such as the unit) lays its selection item over
  // the search input: the click lands on that item, which opens the select just the same.
  await box.click({ force: true });
  await box.fill(typed);
  await page.locator(".ant-select-dropdown:visible .ant-select-item-option").first().waitFor();
  await box.press("Enter");
  // A multiple select stays open after Enter: leaving the field closes it (Escape would also
  // close the dialog the select sits in).
  await box.blur();
}

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
let exitCode = 0;
let copiedSerial = ""; // a copy made by the copy step: the revoke step submits it (never another test's draft)
try {
  let a, appUrl, appId;
  await step("sign-in", async () => {
    const ctx = await browser.newContext({ bypassCSP: true, baseURL: entry, locale: "zh-CN" });
    ctx.setDefaultTimeout(TIMEOUT);
    const page = await ctx.newPage();
    await page.goto("/");
    await page.getByLabel("用户名").waitFor();
    await look(page, "sign-in");
    await page.getByLabel("用户名").fill("demo-ent-a");
    await page.getByLabel("密码").fill("wrong password");
    await page.getByRole("button", { name: /登\s*录/ }).click();
    await page.getByText("wrong user name or password").waitFor();
    await look(page, "sign-in-refused");
    await ctx.close();
    a = await signIn(browser, "demo-ent-a");
    await look(a.page, "applications");
  });
  await step("ekeys", async () => {
    const { page } = a;
    await page.getByRole("link", { name: "我的IC卡 · 商务部电子钥匙" }).click();
    const row = page.getByRole("row", { name: /demo-ekey-1/ });
    await row.waitFor();
    if (await row.getByRole("button", { name: /绑\s*定/ }).count()) await row.getByRole("button", { name: /绑\s*定/ }).click();
    await row.getByText("已绑定").waitFor();
    await look(page, "ekeys");
  });
  await step("ekey-unbind", async () => {
    // Unbind (with its confirmation), then bind again: the journey submits with this key. A 409
    // (another test's submission signed with the key still on its way to MOFCOM) is retried.
    const { page } = a;
    const row = page.getByRole("row", { name: /demo-ekey-1/ });
    const bindButton = row.getByRole("button", { name: /^绑\s*定$/ });
    for (let i = 0; ; i++) {
      await row.getByRole("button", { name: /解\s*绑/ }).click();
      const confirm = page.locator(".ant-modal-confirm").filter({ hasText: "确定解绑这把电子钥匙？" });
      await confirm.waitFor();
      if (i === 0) await look(page, "ekey-unbind-confirm");
      const answered = page.waitForResponse((r) => r.url().includes("/api/v1/ekey-bindings/") && r.request().method() === "DELETE");
      await confirm.getByRole("button", { name: /解\s*绑/ }).click();
      const r = await answered;
      if (r.status() === 200) break;
      if (r.status() !== 409 || i >= 20) throw new Error(`unbind: ${r.status()} ${await r.text()}`);
      await page.waitForTimeout(3000);
    }
    await bindButton.waitFor();
    if (await row.getByText("已绑定").count()) throw new Error("still shown as bound after unbinding");
    // The confirmation fades out: caught mid-fade its text fails the contrast check.
    await page.locator(".ant-modal-confirm").first().waitFor({ state: "hidden" });
    await look(page, "ekey-unbound");
    await bindButton.click();
    await row.getByText("已绑定").waitFor();
  });
  await step("precheck", async () => {
    const { page } = a;
    await page.goto("/applications/new");
    await pick(page, "商品代码", "2601110000");
    await pick(page, "报关口岸", "SHGQ");
    await page.getByRole("button", { name: /下一步/ }).click();
    await page.getByText("在目录内").waitFor();
    await look(page, "precheck");
    await page.getByRole("button", { name: /是，填写申请表/ }).click();
    await page.waitForURL(/\/applications\/[0-9a-f-]{36}$/);
    appUrl = new URL(page.url()).pathname;
    appId = appUrl.split("/").pop();
  });
  await step("form", async () => {
    const { page } = a;
    await page.getByLabel("申请单位经办人").fill("张三");
    await page.getByLabel("进口用户代码").fill("1100776367555");
    await page.getByLabel("进口用户名称").fill("北京示例进出口有限公司");
    await pick(page, "贸易国(地区)", "ADLY"); // letters
    await pick(page, "原产地国(地区)", "澳大利亚"); // Chinese
    await page.getByLabel("预计到港时间").fill(isoIn(40));
    await page.getByRole("button", { name: "添加一行" }).click();
    await page.getByLabel("规格型号 1").fill("Fe 62% 粉矿");
    await pick(page, "单位 1", "070"); // code
    await page.getByLabel("数量 1").fill("1500");
    await page.getByLabel("单价 1").fill("105.5");
    await page.getByRole("button", { name: /暂\s*存/ }).click();
    await page.getByText("已暂存").first().waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="total-usd"]')?.textContent?.trim());
    await page.getByTestId("unit").filter({ hasText: "070 吨" }).waitFor(); // the unit by its name, as in the goods table
    // The problems beside the fields (the contract is still missing) speak the screen's language.
    const explained = await page.locator(".ant-form-item-explain-error, [data-testid=problems] li").allInnerTexts();
    const english = explained.filter((x) => /required|not in code table|must be|is not a/i.test(x.replace(/^[a-z_.0-9]+: /, "")));
    if (english.length) throw new Error(`English problem text on the Chinese screen: ${english.join(" | ")}`);
    await look(page, "form-saved");
  });
  await step("leave-and-return", async () => {
    const { page } = a;
    await page.getByLabel("备注").fill("未暂存的备注");
    await page.getByRole("link", { name: "许可证申请" }).click();
    await page.locator(".ant-modal-confirm-title").filter({ hasText: "有未暂存的修改，确定离开？" }).waitFor();
    await look(page, "leave-confirm");
    await page.getByRole("button", { name: /确\s*定/ }).click();
    await page.waitForURL(`${entry}/`);
    await page.goto(appUrl);
    await page.getByLabel("申请单位经办人").waitFor();
    const values = await Promise.all(["申请单位经办人", "数量 1", "备注"].map((l) => page.getByLabel(l).inputValue()));
    if (values.join("|") !== "张三|1500|未暂存的备注") throw new Error(`not all there after coming back: ${values}`);
    await look(page, "form-back");
    await page.getByRole("button", { name: /暂\s*存/ }).click();
    await page.getByText("已暂存").first().waitFor();
  });
  await step("contract", async () => {
    const { page } = a;
    await page.getByRole("button", { name: "合同信息表", exact: true }).click();
    const d = page.getByRole("dialog");
    const fill = async (label, v) => { const f = d.getByLabel(label, { exact: true }); if (!(await f.inputValue())) await f.fill(v); };
    await fill("进口用户代码", "1100776367555");
    await fill("名称", "北京示例进出口有限公司");
    await fill("统一社会信用代码", "91110000776367555X");
    await fill("地址", "北京市朝阳区示例路1号");
    await fill("联系人", "李四");
    await fill("电话", "010-12345678");
    await fill("合同号", `C-${Date.now()}`);
    await fill("外方名称(英文)", "BHP Billiton");
    await fill("签约日期", isoIn(-30));
    await fill("合同有效期", isoIn(300));
    await fill("总数量", "200000");
    await fill("合同总金额", "21100000");
    const starred = async (label) => d.locator(".ant-form-item-required").filter({ hasText: new RegExp(`^${label}$`) }).count();
    if (await starred("电子邮箱")) throw new Error("the e-mail field shows a required star, the API does not require it");
    if (!(await starred("联系人"))) throw new Error("the contact field lost its required star");
    await look(page, "contract");
    await pick(page, "结算币别", "USD");
    await pick(page, "进口量变化", "within_10");
    await d.getByRole("button", { name: /暂\s*存/ }).click();
    await d.waitFor({ state: "detached" });
  });
  await step("iron-ore-refused", async () => {
    const { page } = a;
    await page.getByRole("button", { name: /^上\s*报$/ }).click();
    const d = page.getByRole("dialog");
    await d.getByText(/已绑定/).waitFor();
    await d.getByRole("button", { name: /^上\s*报$/ }).click();
    await d.getByTestId("submit-error").waitFor();
    const text = await d.getByTestId("submit-error").innerText();
    if (!/iron_ore_contract.*铁矿石合同信息表/s.test(text) || !/无法上报/.test(text)) throw new Error(`the refusal does not name the iron-ore contract in Chinese: ${text}`);
    await look(page, "iron-ore-refused");
    await d.getByRole("button", { name: /取\s*消/ }).click();
  });
  await step("iron-ore", async () => {
    const { page } = a;
    await page.getByRole("button", { name: "铁矿石合同信息表" }).click();
    const d = page.getByRole("dialog");
    await d.getByLabel("合同号").fill(`IO-${Date.now()}`);
    await pick(page, "合同类型", "long");
    await d.getByLabel("签约日期").fill(isoIn(-30));
    await d.getByLabel("执行期起").fill(isoIn(-30));
    await d.getByLabel("执行期止").fill(isoIn(330));
    await pick(page, "企业性质", "trader");
    await d.getByLabel("卖方名称(中文)").fill("必和必拓");
    await pick(page, "原产地国(地区)", "601", d);
    await pick(page, "贸易国(地区)", "601", d);
    await pick(page, "卸货港", "4200");
    await d.getByRole("button", { name: "添加一行" }).click();
    await d.getByLabel("品种 1").fill("粉矿");
    await d.getByLabel("名称 1").fill("PB粉");
    await d.getByLabel("品位Fe% 1").fill("61.5");
    await d.getByLabel("数量(千吨) 1").fill("1.5");
    await d.getByLabel("单价(美元/千吨) 1").fill("105500");
    await look(page, "iron-ore");
    await d.getByRole("button", { name: /暂\s*存/ }).click();
    await d.waitFor({ state: "detached" });
  });
  await step("attachments", async () => {
    const { page } = a;
    await page.getByRole("button", { name: "上传附件" }).click();
    const d = page.getByRole("dialog");
    const input = d.locator("input[type=file]");
    await input.setInputFiles({ name: "contract.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n") });
    await d.getByRole("link", { name: "contract.pdf" }).waitFor();
    // a Windows executable renamed to .pdf: refused by its content
    await input.setInputFiles({ name: "invoice.pdf", mimeType: "application/pdf", buffer: Buffer.concat([Buffer.from("MZ\x90\x00"), Buffer.alloc(200)]) });
    await d.getByTestId("attachment-error").waitFor();
    await look(page, "attachments");
    await d.getByRole("button", { name: /确\s*定/ }).click();
  });
  await step("print", async () => {
    const { page } = a;
    const pdf = page.waitForResponse((r) => r.url().endsWith(`/applications/${appId}/print`));
    await page.getByRole("button", { name: /打\s*印/ }).click();
    const r = await pdf;
    // The preview frame asks with the browser's Accept (text/html first): the printable page;
    // a client asking for anything else gets the PDF (docs/application.md).
    if (r.status() !== 200 || !/^(text\/html|application\/pdf)/.test(r.headers()["content-type"] ?? "")) {
      throw new Error(`print: ${r.status()} ${r.headers()["content-type"]}`);
    }
    await page.waitForTimeout(500);
    await look(page, "print");
    await page.getByRole("dialog").getByRole("button", { name: /Close|关闭/ }).click();
  });
  await step("submit-live", async () => {
    const { page } = a;
    await page.getByRole("button", { name: /^上\s*报$/ }).click();
    const d = page.getByRole("dialog");
    await d.getByText(/已绑定/).waitFor();
    await look(page, "submit-ekey");
    await d.getByRole("button", { name: /^上\s*报$/ }).click();
    await page.getByTestId("status").filter({ hasText: /待初审|待复审|复审通过|已发证/ }).waitFor({ timeout: 90_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="form-no"]')?.textContent?.trim(), null, { timeout: 90_000 });
    await look(page, "submitted");
    await page.getByTestId("status").filter({ hasText: /复审通过|已发证/ }).waitFor({ timeout: 90_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="license-no"]')?.textContent?.trim(), null, { timeout: 90_000 });
    await look(page, "approved-live");
    const kept = await page.evaluate((id) => localStorage.getItem(`ail.unsaved.${id}`), appId);
    if (kept) throw new Error(`a local copy is kept after submit: ${kept}`);
    const shown = await page.getByLabel("备注").inputValue();
    const saved = (await (await page.request.get(`/api/v1/applications/${appId}`)).json()).remarks ?? "";
    if (shown !== saved) throw new Error(`the submitted form shows remark ${JSON.stringify(shown)}, submitted ${JSON.stringify(saved)}`);
  });
  await step("copy-3-and-delete", async () => {
    const { page } = a;
    await page.getByRole("link", { name: "许可证申请" }).click();
    const row = page.getByRole("row").filter({ has: page.locator(`a[href="${appUrl}"]`) });
    await row.getByRole("button", { name: /复\s*制/ }).click();
    await page.getByLabel("份数").fill("3");
    // The three copies by the API's answer (other tests make drafts of this enterprise at the same
    // time: counting rows would be racy, and only our own copy may be deleted).
    const answered = page.waitForResponse((r) => r.url().endsWith("/copies") && r.request().method() === "POST");
    await page.getByRole("dialog").getByRole("button", { name: /确\s*定/ }).click();
    const { copies } = await (await answered).json();
    if (copies.length !== 3) throw new Error(`copied ${copies.length}, not 3`);
    for (const c of copies) await page.getByRole("link", { name: c.serial_no, exact: true }).waitFor();
    await look(page, "copied-3");
    const serial = copies[0].serial_no;
    copiedSerial = copies[1].serial_no; // the revoke step submits this one
    const draft = page.getByRole("row").filter({ has: page.getByRole("link", { name: serial, exact: true }) });
    await draft.getByRole("button", { name: /删\s*除/ }).click();
    await page.getByRole("dialog").getByRole("button", { name: /删\s*除/ }).click();
    await page.getByRole("link", { name: serial, exact: true }).waitFor({ state: "detached" });
    await look(page, "deleted");
  });
  await step("revoke", async () => {
    const { page } = a;
    await page.getByRole("link", { name: copiedSerial, exact: true }).click();
    await page.waitForURL(/\/applications\/[0-9a-f-]{36}$/);
    const heldId = new URL(page.url()).pathname.split("/").pop();
    // MOFCOM's first review of this application only waits long enough to revoke it while
    // pending (a scope of the sandbox: the tests running beside this one are not slowed).
    const made = await fetch(`${mofcom}/control/scopes`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ match: { application_id: heldId }, control: { first_delay: 120 } }),
    });
    if (made.status !== 201) throw new Error(`MOFCOM scope: ${made.status} ${await made.text()}`);
    const scope = (await made.json()).id;
    try {
      await page.getByRole("button", { name: /^上\s*报$/ }).click();
      await page.getByRole("dialog").getByRole("button", { name: /^上\s*报$/ }).click();
      await page.getByTestId("status").filter({ hasText: "待初审" }).waitFor({ timeout: 90_000 });
      await page.getByRole("button", { name: /撤\s*销/ }).click();
      await page.getByTestId("status").filter({ hasText: "已撤销" }).waitFor({ timeout: 90_000 });
      await look(page, "revoked");
    } finally {
      await fetch(`${mofcom}/control/scopes/${scope}`, { method: "DELETE" });
    }
  });
  await step("other-enterprise", async () => {
    const b = await signIn(browser, "demo-ent-b");
    await b.page.goto(appUrl);
    await b.page.getByTestId("not-found").waitFor();
    await look(b.page, "other-enterprise-not-found");
    await b.ctx.close();
  });
  await step("agency-switch", async () => {
    const g = await signIn(browser, "demo-agency");
    const sw = g.page.getByTestId("enterprise-switcher");
    await sw.click();
    await g.page.locator(".ant-select-dropdown:visible .ant-select-item-option").filter({ hasText: "上海示例" }).click();
    await g.page.waitForLoadState("load");
    await g.page.locator(".ant-select-selection-item").filter({ hasText: "上海示例" }).waitFor();
    await look(g.page, "agency-switched");
    await g.page.goto(appUrl); // A's application: not for B
    await g.page.getByTestId("not-found").waitFor();
    await g.ctx.close();
  });
  await step("key-agri", async () => {
    const { page } = a;
    await page.getByRole("link", { name: "重农信息备案" }).click();
    await page.getByRole("button", { name: /保存并上报/ }).waitFor();
    await look(page, "key-agri");
  });
  await step("english", async () => {
    // The main screens in English (the switch in the header); the language is kept per browser.
    const { page } = a;
    await page.goto("/");
    await page.getByRole("button", { name: /^English$/ }).click();
    await page.getByRole("button", { name: /Sign out/ }).waitFor();
    await look(page, "en-applications");
    await page.getByRole("link", { name: "My IC card · MOFCOM e-keys" }).click();
    await page.getByRole("row", { name: /demo-ekey-1/ }).getByText("Bound").waitFor();
    await look(page, "en-ekeys");
    await page.goto("/applications/new");
    await page.getByRole("button", { name: /Next/ }).waitFor();
    await look(page, "en-precheck");
    await page.goto(appUrl);
    await page.getByLabel("Handler").waitFor();
    await page.getByTestId("status").waitFor();
    await page.getByTestId("unit").filter({ hasText: " " }).waitFor(); // the unit's name loaded
    await look(page, "en-form");
    await page.getByRole("button", { name: "Contract information", exact: true }).click();
    await page.getByRole("dialog").getByLabel("Contract no.").waitFor();
    await look(page, "en-contract");
    await page.getByRole("dialog").getByRole("button", { name: /Cancel/ }).click();
    await page.getByRole("link", { name: "Key agricultural filing" }).click();
    await page.getByRole("button", { name: /Save and report/ }).waitFor();
    await look(page, "en-key-agri");
    // The screen's own words (labels, headings, column titles, buttons, menu), not its data.
    const left = (await page.locator("label, h1, th, button, .ant-menu-title-content").allInnerTexts()).join(" ");
    await page.getByRole("button", { name: /^中\s*文$/ }).click(); // back, for whoever runs next
    await page.getByRole("button", { name: /退\s*出/ }).waitFor();
    if (/[\u4e00-\u9fff]{2,}/.test(left.replace(/中\s*文/g, ""))) {
      // The language switch names Chinese in Chinese; anything else is an untranslated string.
      throw new Error(`Chinese left on the English key-agri screen: ${left.match(/[\u4e00-\u9fff]{2,}/g)?.join(" ")}`);
    }
  });
} catch {
  exitCode = 1;
} finally {
  await browser.close();
  writeFileSync(`${out}/results.json`, JSON.stringify(results, null, 1));
}
process.exit(exitCode);
