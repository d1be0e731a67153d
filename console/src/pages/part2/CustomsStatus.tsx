// 海关状态查询: each license's customs status (暂未到达海关, 海关入库成功, 海关入库失败, 发往海关失败)
// with the detail and the next automatic re-send, filtered as the manual's screen is.
import { Button, DatePicker, Form, Input, InputNumber, Space, Table } from "antd";
import type { Dayjs } from "dayjs";
import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { api, call, type Schemas } from "../../api/client";
import { useStatusLabel, useT } from "../../i18n";
import { useSession } from "../../session";
import { CustomsTag, errorText, LicenseStateText, Title, when } from "./common";
import { dateParam } from "./format";
import { App } from "antd";

type Row = Schemas["CustomsStatusRow"];
type Filters = { year?: number; serial_no?: string; license_no?: string; applied_from?: Dayjs; applied_to?: Dayjs };

export function CustomsStatus() {
  const t = useT();
  const label = useStatusLabel();
  const { message } = App.useApp();
  const { session } = useSession();
  const [form] = Form.useForm<Filters>();
  const [rows, setRows] = useState<Row[]>([]);
  const [total, setTotal] = useState(0);
  const [page, setPage] = useState(1);
  const [loading, setLoading] = useState(false);
  const load = useCallback(
    async (p: number) => {
      const f = form.getFieldsValue();
      setLoading(true);
      try {
        const r = await call(
          api.GET("/api/v1/customs/status", {
            params: {
              query: {
                year: f.year ?? undefined,
                serial_no: f.serial_no?.trim() || undefined,
                license_no: f.license_no?.trim() || undefined,
                applied_from: dateParam(f.applied_from),
                applied_to: dateParam(f.applied_to),
                page: p,
                page_size: 10,
              },
            },
          }),
        );
        setRows(r.items);
        setTotal(r.total);
        setPage(p);
      } catch (e) {
        message.error(errorText(e));
      } finally {
        setLoading(false);
      }
    },
    [form, message],
  );
  useEffect(() => {
    void load(1);
  }, [load, session?.acting_enterprise]);
  return (
    <>
      <Title>{t("menu_customs_status")}</Title>
      <Form form={form} layout="inline" onFinish={() => void load(1)} style={{ marginBottom: 16, rowGap: 8 }}>
        <Form.Item name="year" label={t("year")}>
          <InputNumber min={2000} max={2100} style={{ width: 100 }} />
        </Form.Item>
        <Form.Item name="serial_no" label={t("serial_no")}>
          <Input allowClear style={{ width: 180 }} />
        </Form.Item>
        <Form.Item name="license_no" label={t("license_no")}>
          <Input allowClear style={{ width: 180 }} />
        </Form.Item>
        <Form.Item name="applied_from" label={t("p2_applied_from")}>
          <DatePicker />
        </Form.Item>
        <Form.Item name="applied_to" label={t("p2_applied_to")}>
          <DatePicker />
        </Form.Item>
        <Space>
          <Button type="primary" htmlType="submit">{t("p2_query")}</Button>
          <Button onClick={() => { form.resetFields(); void load(1); }}>{t("p2_reset")}</Button>
        </Space>
      </Form>
      <Table<Row>
        rowKey={(r) => r.application_id ?? r.serial_no ?? ""}
        loading={loading}
        dataSource={rows}
        scroll={{ x: true }}
        pagination={{
          current: page, pageSize: 10, total, showSizeChanger: false,
          showTotal: (n) => `${t("p2_total_n")} ${n}`, onChange: (p) => void load(p),
        }}
        columns={[
          { title: t("serial_no"), dataIndex: "serial_no" },
          {
            title: t("license_no"), dataIndex: "license_no",
            render: (v: string | null) => (v ? <Link to={`/customs/licenses/${encodeURIComponent(v)}`}>{v}</Link> : "-"),
          },
          { title: t("commodity"), render: (_: unknown, r) => `${r.commodity_code ?? ""} ${r.commodity_name ?? ""}` },
          { title: t("status"), dataIndex: "application_status", render: (s: string | null) => (s ? label(s) : "-") },
          { title: t("p2_applied_at"), dataIndex: "applied_at", render: when },
          { title: t("p2_customs_status"), render: (_: unknown, r) => <CustomsTag status={r.customs_status} label={r.customs_status_label} /> },
          { title: t("p2_customs_detail"), dataIndex: "customs_detail", render: (v: string | null) => v || "-" },
          { title: t("p2_delivery_rounds"), dataIndex: "delivery_rounds" },
          { title: t("p2_next_resend"), dataIndex: "next_auto_resend_at", render: when },
          { title: t("p2_license_state"), render: (_: unknown, r) => <LicenseStateText state={r.license_state} label={r.license_state_label} /> },
        ]}
      />
    </>
  );
}
