import { describe, expect, it } from "vitest";
import { queryString } from "./download";

describe("queryString", () => {
  it("leaves out the filters not set and keeps zero", () => {
    expect(queryString({ status: "draft", serial_no: "", year: 2026, form_no: null, x: undefined, page: 0 })).toBe(
      "status=draft&year=2026&page=0",
    );
  });
  it("encodes Chinese and spaces", () => {
    expect(queryString({ import_user_name: "北京 示例" })).toBe("import_user_name=%E5%8C%97%E4%BA%AC+%E7%A4%BA%E4%BE%8B");
  });
});
