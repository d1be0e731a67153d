import { describe, expect, it, vi } from "vitest";
import { chunks, fromDelete, fromSubmit, runBatch, type RowResult } from "./batch";

describe("runBatch", () => {
  it("sends exactly the ids given, in chunks, and reports progress after each", async () => {
    const ids = Array.from({ length: 12 }, (_, i) => `id-${i}`);
    const sent: string[][] = [];
    const progress: number[] = [];
    const results = await runBatch(ids, 5, async (c) => {
      sent.push(c);
      return c.map((id) => ({ id, ok: true }));
    }, (p) => progress.push(p.done));
    expect(sent.map((c) => c.length)).toEqual([5, 5, 2]);
    expect(sent.flat()).toEqual(ids);
    expect(progress).toEqual([0, 5, 10, 12]);
    expect(results.map((r) => r.id)).toEqual(ids);
    expect(results.every((r) => r.ok)).toBe(true);
  });

  it("marks only the rows of a failing chunk refused, with the reason, and goes on", async () => {
    const send = vi.fn(async (c: string[]): Promise<RowResult[]> => {
      if (c.includes("b")) throw { status: 503, message: "service unavailable" };
      return c.map((id) => ({ id, ok: true }));
    });
    const results = await runBatch(["a", "b", "c"], 1, send);
    expect(results).toEqual([
      { id: "a", ok: true },
      { id: "b", ok: false, reason: "service unavailable" },
      { id: "c", ok: true },
    ]);
  });

  it("never counts as done a row the answer does not mention, and sends a repeated id once", async () => {
    const results = await runBatch(["a", "b", "a"], 10, async () => [{ id: "a", ok: true }]);
    expect(results).toEqual([{ id: "a", ok: true }, { id: "b", ok: false, reason: "no answer" }]);
  });

  it("refuses a chunk size below 1", () => {
    expect(() => chunks([1], 0)).toThrow();
  });
});

describe("the API's answers as row results", () => {
  it("counts only deleted as done", () => {
    expect(fromDelete([
      { id: "a", outcome: "deleted" },
      { id: "b", outcome: "refused", reason: "only drafts can be deleted" },
      { id: "c", outcome: "not_found" },
    ])).toEqual([
      { id: "a", ok: true, reason: null },
      { id: "b", ok: false, reason: "only drafts can be deleted" },
      { id: "c", ok: false, reason: "not_found" },
    ]);
  });
  it("gives a refused submit its message and the fields in error", () => {
    expect(fromSubmit([
      { id: "a", result: "submitted" },
      { id: "b", result: "refused", error: { message: "fields in error", details: [{ field: "contract", reason: "missing" }] } },
    ])).toEqual([
      { id: "a", ok: true, reason: null },
      { id: "b", ok: false, reason: "fields in error; contract: missing" },
    ]);
  });
});
