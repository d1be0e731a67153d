// Pieces shared by the customs, push and operations screens (issue 19).
import { App, Input, Modal, Result, Tag, Typography } from "antd";
import { useState, type ReactNode } from "react";
import { isApiError } from "../../api/client";
import { useCustomsStatusLabel, useLicenseStateLabel, useT } from "../../i18n";
import { useSession } from "../../session";
import { customsTone, reasonProblem } from "./format";

export function Title({ children, level = 1 }: { children: ReactNode; level?: 1 | 2 }) {
  return <Typography.Title level={level} style={{ fontSize: level === 1 ? 20 : 16 }}>{children}</Typography.Title>;
}

/** A license's customs status: in the screen's language (the API's label is the manual's
 * Chinese), the API's label for a status the console does not know. */
export function CustomsTag({ status, label }: { status?: string | null; label?: string | null }) {
  const customs = useCustomsStatusLabel();
  if (!status) return <Tag>{label || "-"}</Tag>;
  const known = customs(status);
  return <Tag color={customsTone(status)} data-testid="customs-status">{known !== status ? known : label || status}</Tag>;
}

/** A license's state (valid, used up, ...) in the screen's language, else the API's label. */
export function LicenseStateText({ state, label }: { state?: string | null; label?: string | null }) {
  const licenseState = useLicenseStateLabel();
  if (!state) return <span data-testid="license-state">{label || "-"}</span>;
  const known = licenseState(state);
  return <span data-testid="license-state">{known !== state ? known : label || state}</span>;
}

/** Local date and time of an ISO timestamp, as the console shows times. */
export function when(iso?: string | null): string {
  return iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : "-";
}

/** The API's message for an error, for a toast. */
export function errorText(e: unknown): string {
  return isApiError(e) ? `${e.message}${e.details.length ? `: ${e.details.map((d) => `${d.field} ${d.reason}`).join("; ")}` : ""}` : String(e);
}

/** The operations pages: other accounts get the refusal (the API refuses them too, 403). */
export function OpsOnly({ children }: { children: ReactNode }) {
  const t = useT();
  const { session } = useSession();
  if (session?.kind !== "operations") {
    return <Result status="403" title="403" subTitle={<span data-testid="forbidden">{t("p2_forbidden")}</span>} />;
  }
  return <>{children}</>;
}

/** Asks for the reason an operations action records, then runs it. */
export function useReasonAction() {
  const t = useT();
  const { message } = App.useApp();
  const [pending, setPending] = useState<{ title: string; run: (reason: string) => Promise<void> } | null>(null);
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const problem = reasonProblem(reason);
  const modal = (
    <Modal
      open={!!pending}
      title={pending?.title}
      okText={t("ok")}
      cancelText={t("cancel")}
      okButtonProps={{ disabled: !!problem, loading: busy }}
      onCancel={() => setPending(null)}
      onOk={async () => {
        if (!pending || problem) return;
        setBusy(true);
        try {
          await pending.run(reason.trim());
          message.success(t("p2_done"));
          setPending(null);
        } catch (e) {
          message.error(errorText(e));
        } finally {
          setBusy(false);
        }
      }}
    >
      <label htmlFor="ops-reason">{t("p2_reason")}</label>
      <Input.TextArea id="ops-reason" rows={3} maxLength={1000} value={reason} onChange={(e) => setReason(e.target.value)} />
      {problem ? <Typography.Text>{t("p2_reason_needed")}</Typography.Text> : null}
    </Modal>
  );
  const ask = (title: string, run: (reason: string) => Promise<void>) => {
    setReason("");
    setPending({ title, run });
  };
  return { ask, modal };
}
