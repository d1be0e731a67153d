// 重农信息备案: the key agricultural products filing; 保存并上报, then its reported / failed state.
import { Alert, App, Button, Card, Col, Form, Input, Row, Table, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { api, call, isApiError, type Schemas } from "../api/client";
import { useT, type Key } from "../i18n";

type Filing = Schemas["KeyAgriFiling"];
const FIELDS = ["enterprise_name", "business_registration_no", "customs_registration_no", "registered_capital_wan_yuan", "business_address", "contact", "phone"] as const;
// The labels are catalogue keys of the same names (i18n.tsx), in the screen's language.
const LABELS: Record<(typeof FIELDS)[number], Key> = {
  enterprise_name: "enterprise_name", business_registration_no: "business_registration_no",
  customs_registration_no: "customs_registration_no", registered_capital_wan_yuan: "registered_capital_wan_yuan",
  business_address: "business_address", contact: "contact", phone: "phone",
};

export function KeyAgri() {
  const t = useT();
  const { message } = App.useApp();
  const [form] = Form.useForm();
  const [rows, setRows] = useState<Filing[]>([]);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => setRows((await api.GET("/api/v1/key-agri-filings")).data?.items ?? []), []);
  useEffect(() => {
    void load();
  }, [load]);
  const report = async () => {
    setError(null);
    try {
      await call(api.POST("/api/v1/key-agri-filings", { body: form.getFieldsValue(true) }));
      message.success(t("reported"));
      await load();
    } catch (e) {
      if (isApiError(e)) {
        setError(e.message);
        form.setFields(e.details.map((d) => ({ name: d.field, errors: [d.reason] })));
      } else setError(String(e));
    }
  };
  return (
    <Card title={<Typography.Title level={1} style={{ fontSize: 18, margin: 0 }}>{t("menu_key_agri")}</Typography.Title>}>
      {error && <Alert type="error" showIcon message={error} style={{ marginBottom: 12 }} />}
      <Form form={form} layout="vertical">
        <Row gutter={12}>
          {FIELDS.map((f) => (
            <Col span={8} key={f}>
              <Form.Item label={t(LABELS[f])} name={f} required>
                <Input />
              </Form.Item>
            </Col>
          ))}
        </Row>
        <Button type="primary" onClick={() => void report()}>{t("report")}</Button>
      </Form>
      <Table<Filing>
        style={{ marginTop: 16 }}
        rowKey="id"
        size="small"
        pagination={false}
        dataSource={rows}
        columns={[
          { title: t("created_at"), dataIndex: "created_at" },
          { title: t("name"), dataIndex: "enterprise_name" },
          { title: t("status"), dataIndex: "status", render: (s: string, r) => <Tag color={s === "reported" ? "#1b5e20" : s === "report_failed" ? "#b71c1c" : "default"}>{s === "reported" ? `${t("reported")} ${r.receipt_no ?? ""}` : s === "report_failed" ? `${t("report_failed")}: ${r.last_error ?? ""}` : s}</Tag> },
        ]}
      />
    </Card>
  );
}
