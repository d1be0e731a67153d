// 结关数据查询: the declarations that used a license, each with its goods lines and state
// (recorded, refused, amended, invalidated), and the ledger's balance.
import { App, Button, Form, Input, Space, Table, Tag } from "antd";
import { useCallback, useEffect, useState } from "react";
import { useSearchParams } from "react-router-dom";
import { api, call, type Schemas } from "../../api/client";
import { declarationStateLabels, useLabels, useT } from "../../i18n";
import { errorText, Title, when } from "./common";
import { LedgerFigures } from "./LicenseDetail";

type View = Schemas["ClearancesView"];
type Line = Record<string, unknown> & { quantity?: string };
type Declaration = {
  declaration_no: string; declared_at?: string | null; port?: string | null; quantity?: string | null;
  lines?: Line[] | null; state: string; refusal_reason?: string | null; revision?: number | null;
};
const STATE_TONE: Record<string, string> = { recorded: "#1b5e20", refused: "#b71c1c", amended: "#0d47a1", invalidated: "#5c5c5c" };

export function Clearances() {
  const t = useT();
  const declarationState = useLabels(declarationStateLabels);
  const { message } = App.useApp();
  const [params, setParams] = useSearchParams();
  const licenseNo = params.get("license_no") ?? "";
  const [form] = Form.useForm<{ license_no: string }>();
  const [view, setView] = useState<View | null>(null);
  const [page, setPage] = useState(1);
  const [loading, setLoading] = useState(false);
  const load = useCallback(
    async (no: string, p: number) => {
      setLoading(true);
      try {
        setView(await call(api.GET("/api/v1/customs/clearances", { params: { query: { license_no: no, page: p, page_size: 20 } } })));
        setPage(p);
      } catch (e) {
        setView(null);
        message.error(errorText(e));
      } finally {
        setLoading(false);
      }
    },
    [message],
  );
  useEffect(() => {
    form.setFieldsValue({ license_no: licenseNo });
    if (licenseNo) void load(licenseNo, 1);
  }, [licenseNo, load, form]);
  return (
    <>
      <Title>{t("menu_clearances")}</Title>
      <Form form={form} layout="inline" style={{ marginBottom: 16 }} onFinish={(v) => setParams({ license_no: v.license_no.trim() })}>
        <Form.Item name="license_no" label={t("license_no")} rules={[{ required: true, message: t("p2_license_no_required") }]}>
          <Input style={{ width: 220 }} />
        </Form.Item>
        <Space>
          <Button type="primary" htmlType="submit">{t("p2_query")}</Button>
          <Button onClick={() => { form.resetFields(); setView(null); setParams({}); }}>{t("p2_reset")}</Button>
        </Space>
      </Form>
      {view ? (
        <Space direction="vertical" size="large" style={{ width: "100%" }}>
          <LedgerFigures ledger={view.ledger} />
          <Table<Declaration>
            rowKey={(d) => `${d.declaration_no}-${d.revision ?? 0}`}
            loading={loading}
            data-testid="declarations"
            dataSource={view.items as unknown as Declaration[]}
            pagination={{ current: page, pageSize: 20, total: view.total, showTotal: (n) => `${t("p2_total_n")} ${n}`, onChange: (p) => void load(licenseNo, p) }}
            expandable={{
              defaultExpandAllRows: true,
              rowExpandable: (d) => !!d.lines?.length,
              expandedRowRender: (d) => (
                <Table<Line>
                  size="small"
                  aria-label={`${t("p2_goods_lines")} ${d.declaration_no}`}
                  rowKey={(_, i) => String(i)}
                  pagination={false}
                  dataSource={d.lines ?? []}
                  columns={[
                    { title: "#", dataIndex: "line_no" },
                    { title: t("commodity_code"), dataIndex: "commodity_code" },
                    { title: t("quantity"), dataIndex: "quantity" },
                    { title: t("unit"), dataIndex: "unit" },
                  ]}
                />
              ),
            }}
            columns={[
              { title: t("p2_declaration_no"), dataIndex: "declaration_no" },
              { title: t("p2_declared_at"), dataIndex: "declared_at", render: when },
              { title: t("p2_port"), dataIndex: "port" },
              { title: t("quantity"), dataIndex: "quantity", render: (q: string) => `${q} ${view.unit ?? ""}` },
              { title: t("p2_state"), dataIndex: "state", render: (s: string) => <Tag color={STATE_TONE[s]} data-testid="declaration-state">{declarationState(s)}</Tag> },
              { title: t("p2_refusal_reason"), dataIndex: "refusal_reason", render: (v: string | null) => v || "-" },
              { title: t("p2_revision"), dataIndex: "revision" },
            ]}
          />
        </Space>
      ) : null}
    </>
  );
}
