// 重农信息备案: the key agricultural products filing; 保存并上报, then its reported / failed state.
import { Alert, App, Button, Card, Col, Form, Input, Row, Table, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { api, call, isApiError, type Schemas } from "../api/client";
import { useT } from "../i18n";

type Filing = Schemas["KeyAgriFiling"];
const FIELDS = ["enterprise_name", "business_registration_no", "customs_registration_no", "registered_capital_wan_yuan", "business_address", "contact", "phone"] as const;
const LABELS: Record<(typeof FIELDS)[number], string> = {
  enterprise_name: "企业名称 / Enterprise", business_registration_no: "工商登记号 / Business reg. no.",
  customs_registration_no: "海关注册编码 / Customs reg. no.", registered_capital_wan_yuan: "注册资本(万元) / Capital",
  business_address: "经营地址 / Address", contact: "联系人 / Contact", phone: "电话 / Phone",
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
              <Form.Item label={LABELS[f]} name={f} required>
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
