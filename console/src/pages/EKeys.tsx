// 我的IC卡 → 商务部电子钥匙: the e-keys present on signer hosts for this enterprise, and binding.
import { App, Button, Table, Tag, Typography } from "antd";
import { api, call, isApiError } from "../api/client";
import { useT } from "../i18n";
import { useSession } from "../session";
import { useEKeys } from "./SubmitDialog";

export function EKeys() {
  const t = useT();
  const { message } = App.useApp();
  const { session } = useSession();
  const { keys, bindings, reload } = useEKeys(session?.acting_enterprise ?? undefined);
  const bind = async (serial: string) => {
    try {
      await call(api.POST("/api/v1/ekey-bindings", { body: { ekey_serial: serial } }));
      await reload();
    } catch (e) {
      message.error(isApiError(e) ? e.message : String(e));
    }
  };
  const isBound = (serial: string) => bindings.some((b) => b.ekey_serial === serial);
  return (
    <>
      <Typography.Title level={1} style={{ fontSize: 20 }}>{t("menu_ekeys")}</Typography.Title>
      <Table
        rowKey="serial"
        pagination={false}
        dataSource={keys}
        columns={[
          { title: t("serial"), dataIndex: "serial" },
          { title: t("name"), dataIndex: "label" },
          { title: t("host"), dataIndex: "signer_host", render: (h?: string) => (h ? <Tag color="#1b5e20">{h}</Tag> : <Tag>{t("ekey_absent")}</Tag>) },
          { title: t("status"), render: (_: unknown, k: { serial: string }) => (isBound(k.serial) ? <Tag color="#0d47a1">{t("ekey_bound")}</Tag> : null) },
          {
            title: t("actions"),
            render: (_: unknown, k: { serial: string }) =>
              // Unbinding is not in the public API yet (it would have to withdraw the
              // certificate at MOFCOM): a bound key shows its state only.
              isBound(k.serial) ? null : (
                <Button size="small" type="primary" onClick={() => void bind(k.serial)}>{t("bind")}</Button>
              ),
          },
        ]}
      />
    </>
  );
}
