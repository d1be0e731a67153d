// 历史数据查询: everything that happened to a license and its application, by license no. and
// time (from / to: China dates, `to` inclusive, as the API reads them).
import { App, Button, DatePicker, Form, Input, Space, Table } from "antd";
import dayjs, { type Dayjs } from "dayjs";
import { useCallback, useEffect, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { api, call, type Schemas } from "../../api/client";
import { historyKindLabels, useLabels, useT } from "../../i18n";
import { errorText, Title, when } from "./common";

type View = Schemas["LicenseHistory"];
type Item = { occurred_at?: string | null; recorded_at?: string | null; kind: string; summary?: string | null; license_no?: string | null };

export function LicenseHistory() {
  const t = useT();
  const historyKind = useLabels(historyKindLabels);
  const { message } = App.useApp();
  const [params, setParams] = useSearchParams();
  const licenseNo = params.get("license_no") ?? "";
  const from = params.get("from") ?? undefined;
  const to = params.get("to") ?? undefined;
  const [form] = Form.useForm<{ license_no: string; from?: Dayjs; to?: Dayjs }>();
  const [view, setView] = useState<View | null>(null);
  const [page, setPage] = useState(1);
  const load = useCallback(
    async (p: number) => {
      try {
        setView(
          await call(
            api.GET("/api/v1/history", { params: { query: { license_no: licenseNo, from, to, page: p, page_size: 50 } } }),
          ),
        );
        setPage(p);
      } catch (e) {
        setView(null);
        message.error(errorText(e));
      }
    },
    [licenseNo, from, to, message],
  );
  useEffect(() => {
    form.setFieldsValue({ license_no: licenseNo, from: from ? dayjs(from) : undefined, to: to ? dayjs(to) : undefined });
    if (licenseNo) void load(1);
  }, [licenseNo, from, to, load, form]);
  const search = (v: { license_no: string; from?: Dayjs; to?: Dayjs }) => {
    const q: Record<string, string> = { license_no: v.license_no.trim() };
    if (v.from) q.from = v.from.format("YYYY-MM-DD");
    if (v.to) q.to = v.to.format("YYYY-MM-DD");
    setParams(q);
  };
  return (
    <>
      <Title>{t("menu_history")}</Title>
      <Form form={form} layout="inline" style={{ marginBottom: 16 }} onFinish={search}>
        <Form.Item name="license_no" label={t("license_no")} rules={[{ required: true, message: t("p2_license_no_required") }]}>
          <Input style={{ width: 220 }} />
        </Form.Item>
        <Form.Item name="from" label={t("p2_date_from")}>
          <DatePicker />
        </Form.Item>
        <Form.Item name="to" label={t("p2_date_to")}>
          <DatePicker />
        </Form.Item>
        <Space>
          <Button type="primary" htmlType="submit">{t("p2_query")}</Button>
          <Button onClick={() => { form.resetFields(); setView(null); setParams({}); }}>{t("p2_reset")}</Button>
        </Space>
      </Form>
      {view ? (
        <Table<Item>
          rowKey={(_, i) => String(i)}
          data-testid="history"
          dataSource={view.items as unknown as Item[]}
          pagination={{ current: page, pageSize: 50, total: view.total, showTotal: (n) => `${t("p2_total_n")} ${n}`, onChange: (p) => void load(p) }}
          columns={[
            { title: t("p2_occurred_at"), dataIndex: "occurred_at", render: when },
            { title: t("p2_kind"), dataIndex: "kind", render: (k: string) => <span data-testid="history-kind">{historyKind(k)}</span> },
            { title: t("p2_summary"), dataIndex: "summary" },
            { title: t("p2_recorded_at"), dataIndex: "recorded_at", render: when },
          ]}
        />
      ) : null}
    </>
  );
}
