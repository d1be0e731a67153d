import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { OpsOnly } from "./common";
import { part2Menu } from "./menu";
import { MemoryRouter } from "react-router-dom";

const who = vi.hoisted(() => ({ kind: "enterprise" }));
vi.mock("../../session", () => ({ useSession: () => ({ session: { kind: who.kind } }) }));

afterEach(cleanup);

describe("the operations pages", () => {
  it("are refused to an enterprise account", () => {
    who.kind = "enterprise";
    render(<OpsOnly><p>queue</p></OpsOnly>);
    expect(screen.getByTestId("forbidden").textContent).toBe("此页面仅供运维人员使用");
    expect(screen.queryByText("queue")).toBeNull();
  });
  it("are shown to an operations account", () => {
    who.kind = "operations";
    render(<OpsOnly><p>queue</p></OpsOnly>);
    expect(screen.getByText("queue")).toBeTruthy();
    expect(screen.queryByTestId("forbidden")).toBeNull();
  });
  it("are in the menu of operations accounts only, which see nothing else", () => {
    const t = (k: string) => k;
    const ops = part2Menu("/ops/dead-letters", true, t as never);
    expect(ops.only?.map((i) => i?.key)).toEqual(["/ops/time-in-status", "/ops/submissions", "/ops/customs-deliveries", "/ops/dead-letters"]);
    expect(ops.selected).toBe("/ops/dead-letters");
    const ent = part2Menu("/customs/licenses/26AA1", false, t as never);
    expect(ent.only).toBeNull();
    expect(JSON.stringify(ent.items)).not.toContain("/ops/");
    expect(ent.selected).toBe("/customs/status");
    render(<MemoryRouter>{(ent.items[0] as { children: { label: JSX.Element }[] }).children.map((c, i) => <span key={i}>{c.label}</span>)}</MemoryRouter>);
    expect(screen.getAllByRole("link").map((a) => a.getAttribute("href"))).toEqual(["/customs/status", "/customs/clearances", "/customs/history", "/push"]);
  });
});
