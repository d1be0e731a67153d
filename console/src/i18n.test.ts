import { describe, expect, it } from "vitest";
import {
  catalogue, customsStatusLabels, deliveryStateLabels, durationUnits, letterReasonLabels, letterStateLabels, licenseStateLabels,
  opsActionLabels, queueStateLabels, statusLabels, WEBHOOK_TYPES, webhookTypeLabels, declarationStateLabels, ledgerKindLabels,
  ledgerReasonLabels, historyKindLabels,
} from "./i18n";

describe("the string catalogue", () => {
  it("has every key in both languages, none empty", () => {
    const zh = Object.keys(catalogue["zh-CN"]).sort();
    expect(Object.keys(catalogue.en).sort()).toEqual(zh);
    for (const lang of ["zh-CN", "en"] as const) {
      for (const [k, v] of Object.entries(catalogue[lang])) expect(v, `${lang}.${k}`).not.toBe("");
    }
  });
  it("names every status in both languages", () => {
    expect(Object.keys(statusLabels.en).sort()).toEqual(Object.keys(statusLabels["zh-CN"]).sort());
    expect(statusLabels["zh-CN"].pending_first_review).toBe("待初审");
    expect(statusLabels["zh-CN"].approved).toBe("复审通过");
    for (const labels of [customsStatusLabels, licenseStateLabels]) {
      expect(Object.keys(labels.en).sort()).toEqual(Object.keys(labels["zh-CN"]).sort());
    }
    expect(customsStatusLabels["zh-CN"].stored).toBe("海关入库成功");
  });
  it("names every webhook type a subscription may choose, in both languages", () => {
    expect(Object.keys(webhookTypeLabels.en)).toEqual(WEBHOOK_TYPES);
    expect(WEBHOOK_TYPES).toContain("application.clearance_recorded");
    expect(new Set(Object.values(webhookTypeLabels["zh-CN"])).size).toBe(WEBHOOK_TYPES.length);
  });
  it("names the operations pages' states, actions and reasons in both languages, the Chinese in Chinese", () => {
    // session 8: the Chinese dead-letter page showed open / redriven / skipped as the API has them
    for (const labels of [
      queueStateLabels, letterStateLabels, opsActionLabels, letterReasonLabels, deliveryStateLabels, durationUnits,
      declarationStateLabels, ledgerKindLabels, ledgerReasonLabels, historyKindLabels,
    ]) {
      const zh = labels["zh-CN"] as Record<string, string>;
      expect(Object.keys(labels.en).sort()).toEqual(Object.keys(zh).sort());
      for (const [k, v] of Object.entries(zh)) expect(v, k).toMatch(/^[^A-Za-z]*[\u4e00-\u9fff][^A-Za-z]*$/);
    }
    expect(Object.keys(queueStateLabels.en).sort()).toEqual(["closed", "parked", "queued", "retrying"]);
    expect(Object.keys(letterStateLabels.en).sort()).toEqual(["open", "redriven", "skipped"]);
    expect(letterStateLabels["zh-CN"].skipped).toBe("已跳过");
  });
});
