// 许可证申请: the enterprise's applications, with copy / delete / print / submit from the list.
import { App, Button, InputNumber, Modal, Space, Table, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { api, call, isApiError, type Schemas } from "../api/client";
import { useStatusLabel, useT } from "../i18n";
import { useSession } from "../session";

type Row = Schemas["ApplicationRow"];

export function Applications() {
  const t = useT();
  const label = useStatusLabel();
  const nav = useNavigate();
  const { message } = App.useApp();
  const { session } = useSession();
  const [rows, setRows] = useState<Row[]>([]);
  const [loading, setLoading] = useState(true);
  const [copyOf, setCopyOf] = useState<Row | null>(null);
  const [count, setCount] = useState(1);
  const load = useCallback(async () => {
    setLoading(true);
    const page = await call(api.GET("/api/v1/applications", { params: { query: { page_size: 50 } as never } }));
    setRows(((page as { items?: Row[] }).items ?? []) as Row[]);
    setLoading(false);
  }, []);
  useEffect(() => {
    void load();
  }, [load, session?.acting_enterprise]);
  const copy = async () => {
    if (!copyOf) return;
    try {
      const r = await call(
        api.POST("/api/v1/applications/{application_id}/copies", {
          params: { path: { application_id: copyOf.id } },
          body: { count },
        }),
      );
      message.success(`${t("copy")} × ${r.copies.length}`);
      setCopyOf(null);
      await load();
    } catch (e) {
      message.error(isApiError(e) ? e.message : String(e));
    }
  };
  const remove = (row: Row) =>
    Modal.confirm({
      title: t("confirm_delete"),
      content: row.serial_no,
      okText: t("delete"),
      cancelText: t("cancel"),
      okButtonProps: { danger: true },
      onOk: async () => {
        try {
          await call(api.DELETE("/api/v1/applications/{application_id}", { params: { path: { application_id: row.id } } }));
          await load();
        } catch (e) {
          message.error(isApiError(e) ? e.message : String(e));
        }
      },
    });
  return (
    <>
      <Space style={{ marginBottom: 16, justifyContent: "space-between", width: "100%" }}>
        <Typography.Title level={1} style={{ fontSize: 20, margin: 0 }}>
          {t("menu_applications")}
        </Typography.Title>
        <Button type="primary" onClick={() => nav("/applications/new")}>
          {t("menu_new")}
        </Button>
      </Space>
      <Table<Row>
        rowKey="id"
        loading={loading}
        dataSource={rows}
        pagination={false}
        columns={[
          { title: t("serial_no"), dataIndex: "serial_no", render: (v: string, r) => <Link to={`/applications/${r.id}`}>{v}</Link> },
          { title: t("commodity"), dataIndex: "commodity_code" },
          { title: t("status"), dataIndex: "status", render: (s: string) => <Tag>{label(s)}</Tag> },
          { title: t("form_no"), dataIndex: "form_no" },
          { title: t("license_no"), dataIndex: "license_no" },
          {
            title: t("actions"),
            render: (_: unknown, r) => (
              <Space>
                <Button size="small" onClick={() => { setCopyOf(r); setCount(1); }}>
                  {t("copy")}
                </Button>
                <Button size="small" danger disabled={r.status !== "draft"} onClick={() => remove(r)}>
                  {t("delete")}
                </Button>
              </Space>
            ),
          },
        ]}
      />
      <Modal open={!!copyOf} title={`${t("copy")} ${copyOf?.serial_no ?? ""}`} onOk={() => void copy()} onCancel={() => setCopyOf(null)} okText={t("ok")} cancelText={t("cancel")}>
        <label htmlFor="copy-count">{t("copies")} </label>
        <InputNumber id="copy-count" min={1} max={50} value={count} onChange={(v) => setCount(v ?? 1)} />
      </Modal>
    </>
  );
}
