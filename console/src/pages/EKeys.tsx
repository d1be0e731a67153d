// 我的IC卡 → 商务部电子钥匙: the e-keys present on signer hosts for this enterprise, binding and
// unbinding (DELETE /api/v1/ekey-bindings/{serial}: MOFCOM withdraws the certificate).
import { App, Button, Space, Table, Tag, Typography } from "antd";
import { api, call, isApiError } from "../api/client";
import { useT } from "../i18n";
import { useSession } from "../session";
import { useEKeys } from "./SubmitDialog";

export function EKeys() {
  const t = useT();
  const { message, modal } = App.useApp();
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
  const unbind = (serial: string) =>
    modal.confirm({
      title: t("unbind_confirm"),
      content: (
        <Space direction="vertical">
          <Typography.Text code>{serial}</Typography.Text>
          <Typography.Text>{t("unbind_effect")}</Typography.Text>
        </Space>
      ),
      okText: t("unbind"),
      cancelText: t("cancel"),
      okButtonProps: { danger: true },
      onOk: async () => {
        try {
          await call(api.DELETE("/api/v1/ekey-bindings/{ekey_serial}", { params: { path: { ekey_serial: serial } } }));
          message.success(t("unbound"));
        } catch (e) {
          // 409 while submissions signed with the key are on their way: the API says what to wait for.
          message.error(isApiError(e) ? e.message : String(e));
        }
        await reload();
      },
    });
  const isBound = (serial: string) => bindings.some((b) => b.ekey_serial === serial);
  // A bound key no signer host holds right now is listed too (it can still be unbound).
  const rows = [
    ...keys,
    ...bindings
      .filter((b) => !keys.some((k) => k.serial === b.ekey_serial))
      .map((b) => ({ serial: b.ekey_serial, label: "", signer_host: null })),
  ];
  return (
    <>
      <Typography.Title level={1} style={{ fontSize: 20 }}>{t("menu_ekeys")}</Typography.Title>
      <Table
        rowKey="serial"
        pagination={false}
        dataSource={rows}
        columns={[
          { title: t("serial"), dataIndex: "serial" },
          { title: t("name"), dataIndex: "label" },
          { title: t("host"), dataIndex: "signer_host", render: (h?: string) => (h ? <Tag color="#1b5e20">{h}</Tag> : <Tag>{t("ekey_absent")}</Tag>) },
          { title: t("status"), render: (_: unknown, k: { serial: string }) => (isBound(k.serial) ? <Tag color="#0d47a1">{t("ekey_bound")}</Tag> : null) },
          {
            title: t("actions"),
            render: (_: unknown, k: { serial: string }) =>
              isBound(k.serial) ? (
                <Button size="small" danger onClick={() => unbind(k.serial)}>{t("unbind")}</Button>
              ) : (
                <Button size="small" type="primary" onClick={() => void bind(k.serial)}>{t("bind")}</Button>
              ),
          },
        ]}
      />
    </>
  );
}
