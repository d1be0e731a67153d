// 申请单统计 (the manual's chapter 4): approved applications only, per commodity, this month and
// the year up to this month (申请量, 金额, 份数), with the manual's filters, export (the API's
// CSV) and a chart of the monthly amounts of the year.
import { App, Button, Col, DatePicker, Form, Input, Row, Space, Table, Typography } from "antd";
import dayjs, { type Dayjs } from "dayjs";
import { useCallback, useEffect, useState } from "react";
import { api, call, isApiError, type Schemas } from "../api/client";
import { CodeSelect, loadTable } from "../components/CodeSelect";
import { MonthlyChart, type Bar } from "../components/MonthlyChart";
import { useT } from "../i18n";
import { download } from "../queries/download";
import { monthAmount, monthsUpTo, type StatsRow } from "../queries/stats";
import { useSession } from "../session";

type Filters = {
  month?: Dayjs | null;
  issuing_agency?: string;
  trade_mode?: string;
  commodity_grouping?: string;
  commodity_category?: string;
  trade_country?: string;
};
type Query = Record<string, string>;

function toQuery(f: Filters): Query {
  const q: Query = { month: (f.month ?? dayjs()).format("YYYY-MM") };
  for (const k of ["issuing_agency", "trade_mode", "commodity_grouping", "commodity_category", "trade_country"] as const) {
    const v = f[k]?.trim();
    if (v) q[k] = v;
  }
  return q;
}

/** Every row of one month (the API pages at most 200 rows). */
async function monthRows(q: Query): Promise<StatsRow[]> {
  const rows: StatsRow[] = [];
  for (let page = 1; ; page++) {
    // The JSON answer (the route also answers CSV, which the typed client leaves as unknown).
    const data = (await call(api.GET("/api/v1/stats/monthly", { params: { query: { ...q, page, page_size: 200 } } }))) as Schemas["MonthlyStats"];
    rows.push(...(data.items as StatsRow[]));
    if (rows.length >= data.total || data.items.length === 0) return rows;
  }
}

export function Stats() {
  const t = useT();
  const { message } = App.useApp();
  const { session } = useSession();
  const [form] = Form.useForm<Filters>();
  const [query, setQuery] = useState<Query>(() => toQuery({}));
  const [rows, setRows] = useState<StatsRow[]>([]);
  const [bars, setBars] = useState<Bar[]>([]);
  const [units, setUnits] = useState<Map<string, string>>(new Map());
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    void loadTable("units").then((u) => setUnits(new Map(u.map((r) => [r.code, r.name_zh]))));
  }, []);
  const load = useCallback(async () => {
    setLoading(true);
    setError(null);
    try {
      setRows(await monthRows(query));
      // The chart: each month of the year up to the chosen one, same filters.
      const months = monthsUpTo(query.month);
      const amounts = await Promise.all(months.map((m) => monthRows({ ...query, month: m }).then(monthAmount)));
      setBars(months.map((m, i) => ({ month: m, amount: Number(amounts[i]) })));
    } catch (e) {
      setError(isApiError(e) ? `${e.message} ${e.details.map((d) => `${d.field}: ${d.reason}`).join("; ")}` : String(e));
      setRows([]);
      setBars([]);
    } finally {
      setLoading(false);
    }
  }, [query]);
  useEffect(() => {
    void load();
  }, [load, session?.acting_enterprise]);

  const exportCsv = async () => {
    try {
      await download("/api/v1/stats/monthly", query, "text/csv", `stats-${query.month}.csv`);
    } catch (e) {
      message.error(isApiError(e) ? e.message : String(e));
    }
  };
  const unit = (code: string) => units.get(code) ?? code;
  const num = (k: "month" | "year_to_date", f: "quantity" | "amount_usd" | "count") => ({
    title: t(f === "quantity" ? "s_quantity" : f === "amount_usd" ? "s_amount" : "s_count"),
    key: `${k}.${f}`,
    align: "right" as const,
    render: (_: unknown, r: StatsRow) => String(r[k][f]),
  });
  return (
    <>
      <Typography.Title level={1} style={{ fontSize: 20, marginTop: 0 }}>
        {t("menu_stats")}
      </Typography.Title>
      <Form form={form} layout="vertical" initialValues={{ month: dayjs() }} onFinish={(f) => setQuery(toQuery(f))}>
        <Row gutter={16}>
          <Col span={4}>
            <Form.Item name="month" label={t("s_month")} htmlFor="s-month">
              <DatePicker id="s-month" picker="month" allowClear={false} style={{ width: "100%" }} />
            </Form.Item>
          </Col>
          <Col span={5}>
            <Form.Item name="issuing_agency" label={t("issuing_agency")}>
              <CodeSelect table="issuing_agencies" aria-label={t("issuing_agency")} />
            </Form.Item>
          </Col>
          <Col span={5}>
            <Form.Item name="trade_mode" label={t("trade_mode")}>
              <CodeSelect table="trade_modes" aria-label={t("trade_mode")} />
            </Form.Item>
          </Col>
          <Col span={5}>
            <Form.Item name="trade_country" label={t("trade_country")}>
              <CodeSelect table="countries" aria-label={t("trade_country")} />
            </Form.Item>
          </Col>
          <Col span={5}>
            <Form.Item name="commodity_grouping" label={t("s_grouping")} htmlFor="s-grouping">
              <Input id="s-grouping" allowClear placeholder={t("p2_grouping_example")} />
            </Form.Item>
          </Col>
          <Col span={5}>
            <Form.Item name="commodity_category" label={t("s_category")} htmlFor="s-category">
              <Input id="s-category" allowClear placeholder="iron_ore / HS26" />
            </Form.Item>
          </Col>
          <Col span={12} style={{ display: "flex", alignItems: "flex-end", paddingBottom: 24 }}>
            <Space>
              <Button type="primary" htmlType="submit">
                {t("q_search")}
              </Button>
              <Button type="primary" ghost onClick={() => { form.resetFields(); setQuery(toQuery({})); }}>
                {t("q_reset")}
              </Button>
              <Button onClick={() => void exportCsv()}>{t("q_export_csv")}</Button>
            </Space>
          </Col>
        </Row>
      </Form>
      <Typography.Paragraph type="secondary">{t("s_note")}</Typography.Paragraph>
      <Typography.Title level={2} style={{ fontSize: 16 }} data-testid="stats-caption">
        {t("s_caption")} {query.month}
      </Typography.Title>
      <Typography.Paragraph>
        {t("s_operator")}: {session?.display_name ?? ""}
      </Typography.Paragraph>
      {error && (
        <Typography.Paragraph type="danger" role="alert">
          {error}
        </Typography.Paragraph>
      )}
      <div data-testid="stats-table">
      <Table<StatsRow>
        rowKey={(r) => `${r.commodity_code}/${r.unit}`}
        size="small"
        bordered
        loading={loading}
        dataSource={rows}
        pagination={false}
        columns={[
          { title: t("s_no"), key: "no", render: (_: unknown, __: StatsRow, i: number) => i + 1 },
          { title: t("commodity_name"), dataIndex: "commodity_name" },
          { title: t("unit"), dataIndex: "unit", render: unit },
          { title: t("s_this_month"), children: [num("month", "quantity"), num("month", "amount_usd"), num("month", "count")] },
          { title: t("s_ytd"), children: [num("year_to_date", "quantity"), num("year_to_date", "amount_usd"), num("year_to_date", "count")] },
        ]}
      />
      </div>
      <Typography.Title level={2} style={{ fontSize: 16, marginTop: 24 }}>
        {t("s_chart")}
      </Typography.Title>
      {bars.length > 0 && <MonthlyChart bars={bars} title={`${t("s_chart")} ${query.month.slice(0, 4)}`} />}
    </>
  );
}
