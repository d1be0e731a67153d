import { describe, expect, it } from "vitest";
import {
  addToFeed, canRedeliver, customsTone, feedSubject, formatSeconds, formatShare, letterReason, overObjective, parseIds,
  reasonProblem, snakeType,
} from "./format";
import { durationUnits } from "../../i18n";

describe("the customs, push and operations helpers", () => {
  it("gives every customs status a tag colour, none for not sent yet", () => {
    for (const s of ["not_arrived", "stored", "store_failed", "send_failed"]) expect(customsTone(s)).toMatch(/^#/);
    expect(customsTone(null)).toBeUndefined();
    expect(customsTone("stored")).not.toBe(customsTone("store_failed"));
  });
  it("formats seconds for people", () => {
    expect(formatSeconds(null)).toBe("-");
    expect(formatSeconds(4.26)).toBe("4.3 s");
    expect(formatSeconds(185)).toBe("3 min 5 s");
    expect(formatSeconds(7800)).toBe("2 h 10 min");
    expect(formatSeconds(3 * 86400 + 4 * 3600)).toBe("3 d 4 h");
  });
  it("formats seconds in the screen's language", () => {
    const zh = durationUnits["zh-CN"];
    expect(formatSeconds(4.26, zh)).toBe("4.3 秒");
    expect(formatSeconds(185, zh)).toBe("3 分 5 秒");
    expect(formatSeconds(7800, zh)).toBe("2 小时 10 分");
    expect(formatSeconds(3 * 86400 + 4 * 3600, zh)).toBe("3 天 4 小时");
    expect(formatSeconds(185, durationUnits.en)).toBe("3 min 5 s");
  });
  it("reads a dead letter's reason code as the metrics do", () => {
    expect(letterReason("handler_failed after 2 attempts: RuntimeError('fixed since')")).toEqual({
      code: "handler_failed", attempts: 2, detail: "RuntimeError('fixed since')",
    });
    expect(letterReason("handler_refused: ValueError('x: y')")).toEqual({ code: "handler_refused", detail: "ValueError('x: y')" });
    expect(letterReason("undecodable_event: not JSON")).toEqual({ code: "undecodable_event", detail: "not JSON" });
    expect(letterReason("something else")).toEqual({ code: "something", detail: "" });
  });
  it("marks a percentile over the objective only", () => {
    expect(overObjective(61, 60)).toBe(true);
    expect(overObjective(60, 60)).toBe(false);
    expect(overObjective(null, 60)).toBe(false);
    expect(overObjective(100, null)).toBe(false);
    expect(formatShare(0.9876)).toBe("98.8 %");
    expect(formatShare(null)).toBe("-");
  });
  it("asks for a reason the API accepts", () => {
    expect(reasonProblem("  ab ")).toBe("too_short");
    expect(reasonProblem("x".repeat(1001))).toBe("too_long");
    expect(reasonProblem("fixed in 1.4.2")).toBeNull();
  });
  it("reads typed application ids once each", () => {
    expect(parseIds("a, b\nc，a ;d")).toEqual(["a", "b", "c", "d"]);
    expect(parseIds("  ")).toEqual([]);
  });
  it("keeps the live feed newest first, each change once, bounded", () => {
    let feed = addToFeed([], { id: "1", type: "t", data: {}, at: 1 });
    feed = addToFeed(feed, { id: "2", type: "t", data: {}, at: 2 });
    feed = addToFeed(feed, { id: "2", type: "t", data: {}, at: 3 });
    expect(feed.map((f) => f.id)).toEqual(["2", "1"]);
    for (let i = 3; i < 10; i++) feed = addToFeed(feed, { id: String(i), type: "t", data: {}, at: i }, 5);
    expect(feed.map((f) => f.id)).toEqual(["9", "8", "7", "6", "5"]);
  });
  it("names the stream's event types as the docs do", () => {
    expect(snakeType("ClearanceRecorded")).toBe("application.clearance_recorded");
    expect(canRedeliver("failed") && canRedeliver("delivered") && !canRedeliver("pending")).toBe(true);
  });
  it("says what a live-feed line is about: the status it sets, else what the fact records", () => {
    const base = { current_status: "license_issued", status: null, details: {} };
    expect(feedSubject({ ...base, status: "license_issued" })).toEqual({ kind: "status", value: "license_issued" });
    // Customs storing the license: its customs status, not the application's status
    expect(feedSubject({ ...base, customs_status: "stored" })).toEqual({ kind: "customs", value: "stored" });
    expect(feedSubject({ ...base, details: { license_state: "used_up" } })).toEqual({ kind: "license_state", value: "used_up" });
    expect(feedSubject({ ...base, details: { declaration_no: "2200001", quantity: "7" } })).toEqual({ kind: "declaration", value: "2200001", quantity: "7" });
    expect(feedSubject(base)).toEqual({ kind: "none" });
  });
});
