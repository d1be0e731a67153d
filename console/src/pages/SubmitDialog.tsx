// 上报: shows the e-key state first (bound to the enterprise? present on a signer host?), then
// submits; the answer (status, and the form no. when MOFCOM accepts) follows live on the form.
import { Alert, App, Button, Descriptions, Modal, Tag } from "antd";
import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { api, call, isApiError, type Application, type Problem } from "../api/client";
import { useProblemText, useT } from "../i18n";

type EKey = { serial: string; label?: string; signer_host?: string | null; bound?: boolean; enterprise_codes?: string[] };
type Binding = { ekey_serial: string; enterprise_code: string };

export function useEKeys(enterprise: string | undefined) {
  const [keys, setKeys] = useState<EKey[]>([]);
  const [bindings, setBindings] = useState<Binding[]>([]);
  const reload = async () => {
    const [k, b] = await Promise.all([api.GET("/api/v1/ekeys"), api.GET("/api/v1/ekey-bindings")]);
    setKeys(((k.data as { items?: EKey[] } | undefined)?.items ?? []) as EKey[]);
    setBindings(((b.data as { items?: Binding[] } | undefined)?.items ?? []).filter((x) => !enterprise || x.enterprise_code === enterprise));
  };
  useEffect(() => {
    void reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [enterprise]);
  return { keys, bindings, reload };
}

export function SubmitDialog({ app, onClose }: { app: Application; onClose: (done: boolean) => void }) {
  const t = useT();
  const problemText = useProblemText();
  const { message } = App.useApp();
  const { keys, bindings } = useEKeys(app.enterprise_code);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [error, setError] = useState<string | null>(null);
  const bound = bindings[0];
  const present = bound ? keys.find((k) => k.serial === bound.ekey_serial && k.signer_host) : undefined;
  const submit = async () => {
    try {
      const a = await call(api.POST("/api/v1/applications/{application_id}/submit", { params: { path: { application_id: app.id } } }));
      message.success(`${t("submitted")}: ${a.serial_no}`);
      onClose(true);
    } catch (e) {
      if (isApiError(e)) {
        // The field problems speak the screen's language (their codes); so does their heading.
        setError(e.details.length ? t("submit_refused") : e.message);
        setProblems(e.details);
      } else setError(String(e));
    }
  };
  return (
    <Modal open title={t("submit")} onCancel={() => onClose(false)} footer={[<Button key="c" onClick={() => onClose(false)}>{t("cancel")}</Button>, <Button key="s" type="primary" onClick={() => void submit()}>{t("submit")}</Button>]}>
      <Descriptions column={1} size="small" bordered>
        <Descriptions.Item label={t("ekey")}>
          {bound ? <Tag color="#1b5e20">{t("ekey_bound")}: {bound.ekey_serial}</Tag> : <Link to="/ekeys">{t("ekey_none")}</Link>}
        </Descriptions.Item>
        <Descriptions.Item label={t("host")}>
          {present ? <Tag color="#1b5e20">{t("ekey_present")}: {present.signer_host}</Tag> : <Tag color="#8a4b00">{t("ekey_absent")}</Tag>}
        </Descriptions.Item>
      </Descriptions>
      {error && (
        <Alert style={{ marginTop: 12 }} type="error" showIcon data-testid="submit-error" message={error}
          description={problems.length ? <ul style={{ margin: 0 }}>{problems.map((p, i) => <li key={i}><code>{p.field}</code>: {problemText(p)}</li>)}</ul> : undefined} />
      )}
    </Modal>
  );
}
