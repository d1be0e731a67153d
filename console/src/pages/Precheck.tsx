// 许可证申请 pre-check: year, 是否一批一证, up to 4 commodities, up to 2 customs ports; 下一步 asks
// MOFCOM (POST /api/v1/prechecks) and, on 是, opens the form as a new draft.
import { Alert, App, Button, Card, Form, InputNumber, Radio, Space, Table, Tag, Typography } from "antd";
import { useState } from "react";
import { useNavigate } from "react-router-dom";
import { api, call, isApiError, type Schemas } from "../api/client";
import { CodeSelect } from "../components/CodeSelect";
import { useT } from "../i18n";

type Answer = Schemas["PrecheckAnswer"];
type Values = { year: number; one_batch_one_license: boolean; commodities: string[]; customs_ports: string[] };

export function Precheck() {
  const t = useT();
  const nav = useNavigate();
  const { message } = App.useApp();
  const [form] = Form.useForm<Values>();
  const [answers, setAnswers] = useState<Answer[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const ask = async (v: Values) => {
    setError(null);
    try {
      const r = await call(
        api.POST("/api/v1/prechecks", {
          body: {
            year: v.year,
            one_batch_one_license: v.one_batch_one_license,
            commodities: (v.commodities ?? []).map((code) => ({ code })),
            customs_ports: v.customs_ports ?? [],
          },
        }),
      );
      setAnswers(r.answers);
    } catch (e) {
      setError(isApiError(e) ? [e.message, ...e.details.map((d) => `${d.field}: ${d.reason}`)].join("；") : String(e));
    }
  };
  const open = async (a: Answer) => {
    const v = form.getFieldsValue();
    try {
      const app = await call(
        api.POST("/api/v1/applications", {
          body: {
            year: v.year,
            one_batch_one_license: v.one_batch_one_license,
            commodity_code: a.commodity_code,
            customs_ports: v.customs_ports,
            electronic_license: a.electronic_allowed,
          },
        }),
      );
      nav(`/applications/${app.id}`);
    } catch (e) {
      message.error(isApiError(e) ? e.message : String(e));
    }
  };
  const year = new Date().getFullYear();
  return (
    <Card title={<Typography.Title level={1} style={{ fontSize: 18, margin: 0 }}>{t("precheck_title")}</Typography.Title>}>
      <Form<Values>
        form={form}
        layout="inline"
        onFinish={ask}
        initialValues={{ year, one_batch_one_license: false, commodities: [], customs_ports: [] }}
        style={{ rowGap: 12 }}
      >
        <Form.Item label={t("year")} name="year" required>
          <InputNumber min={year - 1} max={year + 1} />
        </Form.Item>
        <Form.Item label={t("one_batch")} name="one_batch_one_license">
          <Radio.Group options={[{ value: true, label: t("yes") }, { value: false, label: t("no") }]} />
        </Form.Item>
        <Form.Item label={t("commodity")} name="commodities" required style={{ minWidth: 420 }}>
          <CodeSelect table="commodities" multiple max={4} remote aria-label={t("commodity")} />
        </Form.Item>
        <Form.Item label={t("customs_ports")} name="customs_ports" required style={{ minWidth: 320 }}>
          <CodeSelect table="customs_ports" multiple max={2} aria-label={t("customs_ports")} />
        </Form.Item>
        <Button type="primary" htmlType="submit">
          {t("next")}
        </Button>
      </Form>
      {error && <Alert style={{ marginTop: 16 }} type="error" showIcon message={error} />}
      {answers && (
        <Table<Answer>
          style={{ marginTop: 16 }}
          rowKey="commodity_code"
          pagination={false}
          dataSource={answers}
          caption={t("precheck_answer")}
          columns={[
            { title: t("commodity"), dataIndex: "commodity_code" },
            { title: t("commodity_name"), dataIndex: "commodity_name" },
            {
              title: t("precheck_answer"),
              render: (_: unknown, a) => (
                <Space direction="vertical" size={0}>
                  <Tag color={a.on_catalogue ? "#1b5e20" : "#b71c1c"}>{a.on_catalogue ? t("on_catalogue") : t("not_on_catalogue")}</Tag>
                  <span>{a.reason}</span>
                </Space>
              ),
            },
            {
              title: t("actions"),
              render: (_: unknown, a) =>
                a.on_catalogue ? (
                  <Button type="primary" onClick={() => void open(a)}>
                    {t("open_form")}
                  </Button>
                ) : null,
            },
          ]}
        />
      )}
    </Card>
  );
}
