import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SignIn } from "./SignIn";

vi.mock("../session", () => ({
  useSession: () => ({
    signIn: () => Promise.reject({ status: 401, code: "unauthenticated", message: "wrong user name or password: check both and try again", details: [] }),
  }),
}));

afterEach(cleanup);

describe("the sign-in screen", () => {
  it("labels its fields in Chinese and shows the API's refusal", async () => {
    render(<SignIn />);
    fireEvent.change(screen.getByLabelText("用户名"), { target: { value: "demo-ent-a" } });
    fireEvent.change(screen.getByLabelText("密码"), { target: { value: "nope" } });
    fireEvent.click(screen.getByRole("button", { name: /登\s*录/ }));
    await waitFor(() => expect(screen.getByText(/wrong user name or password/)).toBeTruthy());
    expect(screen.getByText("登录失败")).toBeTruthy();
  });
});
