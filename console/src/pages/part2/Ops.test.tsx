import { cleanup, render, screen, waitFor } from "@testing-library/react";
import { App } from "antd";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LangContext, type Lang } from "../../i18n";
import { OpsDeadLetters, OpsSubmissions } from "./Ops";

vi.mock("../../session", () => ({ useSession: () => ({ session: { kind: "operations" } }) }));
const letter = (offset: number, state: string, reason: string, actions: object[] = []) => ({
  topic: "ail.status.dlt", partition: 0, offset, timestamp_ms: 1_764_633_600_000, key: `k${offset}`, reason,
  source_topic: "ail.status", source_partition: 0, source_offset: offset, consumer: "status.lifecycle", headers: {},
  value_base64: "", value_text: "{}", state, actions,
});
const skip = { action: "skip", reason: "fixed since", actor: "demo-ops", at: "2026-12-01T00:00:00Z" };
const submission = (state: string) => ({
  submission_id: `s-${state}`, application_id: "a", enterprise_code: "1100776367555", form_no: null, state, attempts: 3,
  last_error: null, next_attempt_at: null, updated_at: "2026-12-01T00:00:00Z",
  last_request: { serial_no: `NA-${state}`, commodity_code: "2601", commodity_name: "铁矿砂" },
  actions: state === "closed" ? [{ action: "close", reason: "given up", actor: "demo-ops", at: "2026-12-01T00:00:00Z" }] : [],
});
vi.mock("../../api/client", () => ({
  api: {
    GET: (path: string) =>
      Promise.resolve(
        path.endsWith("/dead-letters")
          ? {
              items: [{
                topic: "ail.status.dlt", source_topic: "ail.status",
                messages: [
                  letter(1, "open", "handler_failed after 2 attempts: RuntimeError('db')"),
                  letter(2, "redriven", "undecodable_event: not JSON", [{ ...skip, action: "redrive" }]),
                  letter(3, "skipped", "handler_refused: ValueError('x')", [skip]),
                ],
              }],
            }
          : { items: ["queued", "retrying", "parked", "closed"].map(submission), total: 4 },
      ),
  },
  call: (p: Promise<unknown>) => p,
}));

afterEach(cleanup);

const inLang = (lang: Lang, page: JSX.Element) =>
  render(<LangContext.Provider value={{ lang, setLang: () => undefined }}><App>{page}</App></LangContext.Provider>);
const texts = (id: string) => screen.getAllByTestId(id).map((e) => e.textContent);

// A first render of Ant Design's table under a loaded machine (a stack beside it) takes seconds.
const SLOW = { timeout: 30_000 };

describe("the operations pages in the screen's language", SLOW, () => {
  it("name a dead letter's state, reason and action in Chinese on the Chinese screen", async () => {
    inLang("zh-CN", <OpsDeadLetters />);
    await waitFor(() => expect(screen.getAllByTestId("ops-state")).toHaveLength(3), SLOW);
    expect(texts("ops-state")).toEqual(["待处理", "已重新投递", "已跳过"]);
    expect(texts("dlt-reason")).toEqual(["处理失败 · 已尝试 2 次", "无法解码", "处理程序拒绝"]);
    expect(texts("ops-action")).toEqual(["重新投递", "跳过"]);
    expect(screen.getByRole("columnheader", { name: "分区/偏移量" })).toBeTruthy();
  });
  it("and in English on the English one", async () => {
    inLang("en", <OpsDeadLetters />);
    await waitFor(() => expect(screen.getAllByTestId("ops-state")).toHaveLength(3), SLOW);
    expect(texts("ops-state")).toEqual(["Open", "Redriven", "Skipped"]);
    expect(texts("dlt-reason")).toEqual(["Handler failed · after 2 attempts", "Undecodable", "Refused by the handler"]);
  });
  it("name the queue's states and actions in Chinese", async () => {
    inLang("zh-CN", <OpsSubmissions />);
    await waitFor(() => expect(screen.getAllByTestId("ops-state")).toHaveLength(4), SLOW);
    expect(texts("ops-state")).toEqual(["排队中", "重试中", "已搁置（待人工处理）", "已关闭"]);
    expect(texts("ops-action")).toEqual(["关闭"]);
  });
});
