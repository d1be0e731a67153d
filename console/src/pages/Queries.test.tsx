import dayjs from "dayjs";
import { describe, expect, it } from "vitest";
import { toQuery } from "./Queries";

describe("the query's filters as API parameters", () => {
  it("trims text, leaves out empty filters and gives the date range as days", () => {
    expect(
      toQuery({
        status: "draft",
        serial_no: "  NA26 ",
        form_no: "",
        import_user_name: "示例",
        year: 2026,
        applied: [dayjs("2026-11-01T10:00:00"), dayjs("2026-11-30T23:00:00")],
      }),
    ).toEqual({
      status: "draft",
      serial_no: "NA26",
      form_no: undefined,
      issuing_agency: undefined,
      import_user_code: undefined,
      import_user_name: "示例",
      trade_mode: undefined,
      year: 2026,
      applied_from: "2026-11-01",
      applied_to: "2026-11-30",
    });
  });
  it("sends nothing for a form left empty (every row of the tenant)", () => {
    expect(Object.values(toQuery({})).filter((v) => v !== undefined)).toEqual([]);
  });
});
