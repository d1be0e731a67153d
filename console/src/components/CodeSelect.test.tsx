import { describe, expect, it } from "vitest";
import { pathOf } from "../pages/ApplicationForm";
import { matches } from "./CodeSelect";

const AU = { code: "601", name_zh: "澳大利亚", letters: "ADLY" };

describe("a code-table select", () => {
  it("finds a row by code prefix, pinyin initials (any case) or part of the Chinese name", () => {
    expect(matches(AU, "60")).toBe(true);
    expect(matches(AU, "adl")).toBe(true);
    expect(matches(AU, "ADLY")).toBe(true);
    expect(matches(AU, "利亚")).toBe(true);
    expect(matches(AU, "142")).toBe(false);
    expect(matches(AU, "BX")).toBe(false);
  });
});

describe("an API problem's field", () => {
  it("becomes the form's name path, goods lines included", () => {
    expect(pathOf("goods.0.quantity")).toEqual(["goods", 0, "quantity"]);
    expect(pathOf("foreign_contract.expiry_date")).toEqual(["foreign_contract", "expiry_date"]);
  });
});
