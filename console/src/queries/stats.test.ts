import { describe, expect, it } from "vitest";
import { monthAmount, monthsUpTo, type StatsRow } from "./stats";

const row = (amount: string): StatsRow => ({
  commodity_code: "2601110000", commodity_name: "x", unit: "070",
  month: { quantity: "1", amount_usd: amount, count: 1 }, year_to_date: { quantity: "1", amount_usd: amount, count: 1 },
});

describe("monthly statistics", () => {
  it("lists the months of the year up to the one chosen", () => {
    expect(monthsUpTo("2026-03")).toEqual(["2026-01", "2026-02", "2026-03"]);
    expect(monthsUpTo("2026-01")).toEqual(["2026-01"]);
    expect(() => monthsUpTo("2026-3")).toThrow();
  });
  it("sums amounts as decimals, not floats", () => {
    expect(monthAmount([row("0.1"), row("0.2")])).toBe("0.30");
    expect(monthAmount([row("15825000.00"), row("537"), row("0.005")])).toBe("15825537.01");
    expect(monthAmount([])).toBe("0.00");
  });
});
