// 申请单查询 (the manual's chapter 4): every filter, run on opening, 重置, paging with the total,
// row selection (kept across pages) and the batch actions on the selected rows only: 查看单据信息,
// 删除单据 (drafts), 申报, 撤销 (one pending), 批量打印; export of every matching row (XLSX, CSV).
import { App, Button, Col, DatePicker, Form, Input, InputNumber, Modal, Progress, Row, Select, Space, Table, Tag, Typography } from "antd";
import type { Dayjs } from "dayjs";
import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useNavigate } from "react-router-dom";
import { api, asError, call, isApiError, raw, type Schemas } from "../api/client";
import { CodeSelect, loadTable } from "../components/CodeSelect";
import { statusLabels, useStatusLabel, useT } from "../i18n";
import { fromDelete, fromSubmit, runBatch, type Progress as BatchProgress, type RowResult } from "../queries/batch";
import { download, XLSX } from "../queries/download";
import { useSession } from "../session";

type AppRow = Schemas["ApplicationRow"];
type Filters = {
  status?: string;
  serial_no?: string;
  form_no?: string;
  issuing_agency?: string;
  import_user_code?: string;
  import_user_name?: string;
  trade_mode?: string;
  year?: number;
  applied?: [Dayjs | null, Dayjs | null] | null;
};
type Batch = { title: string; progress: BatchProgress; results: RowResult[] | null; serials: Map<string, string> };

const PENDING = ["pending_first_review", "pending_second_review"];
// Small chunks: a batch of 20 shows its progress in 4 steps; the API takes up to 100 a request.
const SUBMIT_CHUNK = 5;
const DELETE_CHUNK = 10;

/** The API's query parameters for the filters in the form (empty ones left out). */
export function toQuery(f: Filters): Record<string, string | number | undefined> {
  const text = (v?: string) => (v && v.trim() ? v.trim() : undefined);
  return {
    status: f.status || undefined,
    serial_no: text(f.serial_no),
    form_no: text(f.form_no),
    issuing_agency: f.issuing_agency || undefined,
    import_user_code: text(f.import_user_code),
    import_user_name: text(f.import_user_name),
    trade_mode: f.trade_mode || undefined,
    year: f.year ?? undefined,
    applied_from: f.applied?.[0]?.format("YYYY-MM-DD"),
    applied_to: f.applied?.[1]?.format("YYYY-MM-DD"),
  };
}

export function Queries() {
  const t = useT();
  const label = useStatusLabel();
  const nav = useNavigate();
  const { message } = App.useApp();
  const { session } = useSession();
  const [form] = Form.useForm<Filters>();
  const [query, setQuery] = useState<Record<string, string | number | undefined>>({});
  const [page, setPage] = useState({ page: 1, page_size: 10 });
  const [rows, setRows] = useState<AppRow[]>([]);
  const [total, setTotal] = useState(0);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  // Selected rows by id, across pages (the rows themselves: the batch results name their serials).
  const [selected, setSelected] = useState<Map<string, AppRow>>(new Map());
  const [batch, setBatch] = useState<Batch | null>(null);
  const [pdf, setPdf] = useState<string | null>(null);
  const [units, setUnits] = useState<Map<string, string>>(new Map());
  useEffect(() => {
    void loadTable("units").then((u) => setUnits(new Map(u.map((r) => [r.code, r.name_zh]))));
  }, []);

  const load = useCallback(async () => {
    setLoading(true);
    setError(null);
    try {
      const data = await call(
        api.GET("/api/v1/applications", { params: { query: { ...query, ...page } as never } }),
      );
      const p = data as unknown as Schemas["ApplicationPage"];
      setRows(p.items);
      setTotal(p.total);
    } catch (e) {
      setError(isApiError(e) ? `${e.message} ${e.details.map((d) => `${d.field}: ${d.reason}`).join("; ")}` : String(e));
      setRows([]);
      setTotal(0);
    } finally {
      setLoading(false);
    }
  }, [query, page]);
  // The manual: the query runs as the screen opens (and again when the agency switches enterprise).
  useEffect(() => {
    void load();
  }, [load, session?.acting_enterprise]);

  const search = (f: Filters) => {
    setSelected(new Map());
    setQuery(toQuery(f));
    setPage((p) => ({ ...p, page: 1 }));
  };
  const reset = () => {
    form.resetFields();
    search({});
  };
  const chosen = useMemo(() => [...selected.values()], [selected]);

  const run = async (title: string, ids: string[], size: number, send: (chunk: string[]) => Promise<RowResult[]>) => {
    const serials = new Map(chosen.map((r) => [r.id, r.serial_no]));
    setBatch({ title, progress: { done: 0, total: ids.length }, results: null, serials });
    const results = await runBatch(ids, size, send, (progress) => setBatch((b) => (b ? { ...b, progress } : b)));
    setBatch((b) => (b ? { ...b, results } : b));
    setSelected(new Map());
    await load();
  };
  const submit = () =>
    void run(t("q_declare"), chosen.map((r) => r.id), SUBMIT_CHUNK, async (ids) =>
      fromSubmit((await call(api.POST("/api/v1/applications/submit", { body: { ids } }))).results),
    );
  const remove = () =>
    Modal.confirm({
      title: t("q_confirm_delete"),
      content: chosen.map((r) => r.serial_no).join(", "),
      okText: t("delete"),
      cancelText: t("cancel"),
      okButtonProps: { danger: true },
      onOk: () =>
        void run(t("q_delete"), chosen.map((r) => r.id), DELETE_CHUNK, async (ids) =>
          fromDelete((await call(api.POST("/api/v1/applications/batch-delete", { body: { ids } }))).results),
        ),
    });
  const revoke = () =>
    void run(t("revoke"), chosen.map((r) => r.id), 1, async ([id]) => {
      await call(api.POST("/api/v1/applications/{application_id}/revoke", { params: { path: { application_id: id } } }));
      return [{ id, ok: true }];
    });
  const print = async () => {
    try {
      const resp = await raw("/api/v1/applications/print", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/pdf" },
        body: JSON.stringify({ ids: chosen.map((r) => r.id) }),
      });
      if (!resp.ok) throw asError(resp.status, await resp.json().catch(() => undefined));
      setPdf(URL.createObjectURL(await resp.blob()));
    } catch (e) {
      message.error(isApiError(e) ? e.message : String(e));
    }
  };
  const exportAs = async (accept: string, ext: string) => {
    try {
      await download("/api/v1/applications", query, accept, `applications.${ext}`);
    } catch (e) {
      message.error(isApiError(e) ? e.message : String(e));
    }
  };

  const one = chosen.length === 1 ? chosen[0] : null;
  // Delete and submit take any selection: the API refuses, row by row with the reason, what a
  // row's status forbids (DOMAIN: delete also revoked and rejected ones, submit revoked ones).
  const some = chosen.length > 0;
  const statusOptions = Object.keys(statusLabels["zh-CN"]).map((s) => ({ value: s, label: label(s) }));
  const fmt = (v: unknown) => (v === null || v === undefined || v === "" ? "-" : String(v));
  return (
    <>
      <Typography.Title level={1} style={{ fontSize: 20, marginTop: 0 }}>
        {t("q_title")}
      </Typography.Title>
      <Form form={form} layout="vertical" onFinish={search} data-testid="query-form">
        <Row gutter={16}>
          <Col span={6}>
            <Form.Item name="status" label={t("q_status")} htmlFor="q-status">
              <Select id="q-status" allowClear options={statusOptions} placeholder={t("q_all")} />
            </Form.Item>
          </Col>
          <Col span={6}>
            <Form.Item name="serial_no" label={t("serial_no")} htmlFor="q-serial">
              <Input id="q-serial" allowClear />
            </Form.Item>
          </Col>
          <Col span={6}>
            <Form.Item name="form_no" label={t("form_no")} htmlFor="q-form-no">
              <Input id="q-form-no" allowClear />
            </Form.Item>
          </Col>
          <Col span={6}>
            <Form.Item name="issuing_agency" label={t("issuing_agency")}>
              <CodeSelect table="issuing_agencies" aria-label={t("issuing_agency")} />
            </Form.Item>
          </Col>
          <Col span={6}>
            <Form.Item name="import_user_code" label={t("import_user_code")} htmlFor="q-user-code">
              <Input id="q-user-code" allowClear />
            </Form.Item>
          </Col>
          <Col span={6}>
            <Form.Item name="import_user_name" label={t("import_user_name")} htmlFor="q-user-name">
              <Input id="q-user-name" allowClear />
            </Form.Item>
          </Col>
          <Col span={6}>
            <Form.Item name="trade_mode" label={t("trade_mode")}>
              <CodeSelect table="trade_modes" aria-label={t("trade_mode")} />
            </Form.Item>
          </Col>
          <Col span={6}>
            <Form.Item name="year" label={t("year")} htmlFor="q-year">
              <InputNumber id="q-year" min={2000} max={2100} style={{ width: "100%" }} />
            </Form.Item>
          </Col>
          <Col span={12}>
            <Form.Item name="applied" label={t("q_applied")}>
              <DatePicker.RangePicker
                style={{ width: "100%" }}
                id={{ start: "q-applied-from", end: "q-applied-to" }}
                aria-label={t("q_applied")}
                placeholder={[t("q_applied_from"), t("q_applied_to")]}
              />
            </Form.Item>
          </Col>
          <Col span={12} style={{ display: "flex", alignItems: "flex-end", paddingBottom: 24 }}>
            <Space>
              <Button type="primary" htmlType="submit">
                {t("q_search")}
              </Button>
              <Button type="primary" ghost onClick={reset}>
                {t("q_reset")}
              </Button>
            </Space>
          </Col>
        </Row>
      </Form>
      <Space wrap style={{ marginBottom: 12 }} data-testid="batch-actions">
        <Button disabled={!one} onClick={() => one && nav(`/applications/${one.id}`)}>
          {t("q_view")}
        </Button>
        <Button disabled={!some} onClick={remove}>
          {t("q_delete")}
        </Button>
        <Button disabled={!some} onClick={submit}>
          {t("q_declare")}
        </Button>
        <Button disabled={!one || !PENDING.includes(one.status)} onClick={revoke}>
          {t("revoke")}
        </Button>
        <Button disabled={chosen.length === 0 || chosen.length > 100} onClick={() => void print()}>
          {t("q_print")}
        </Button>
        <Button onClick={() => void exportAs(XLSX, "xlsx")}>{t("q_export_xlsx")}</Button>
        <Button onClick={() => void exportAs("text/csv", "csv")}>{t("q_export_csv")}</Button>
        <Typography.Text data-testid="selected-count">
          {t("q_selected")}: {chosen.length}
        </Typography.Text>
      </Space>
      {error && (
        <Typography.Paragraph type="danger" role="alert">
          {error}
        </Typography.Paragraph>
      )}
      <div data-testid="query-results">
      <Table<AppRow>
        rowKey="id"
        size="small"
        loading={loading}
        dataSource={rows}
        rowSelection={{
          selectedRowKeys: [...selected.keys()],
          preserveSelectedRowKeys: true,
          // Row checkboxes named by their serial no. (the axe scan and people with screen readers).
          getCheckboxProps: (r) => ({ "aria-label": r.serial_no }) as never,
          onChange: (keys, picked) => {
            setSelected((old) => {
              const next = new Map<string, AppRow>();
              const byId = new Map(picked.filter(Boolean).map((r) => [r.id, r]));
              for (const k of keys) {
                const r = byId.get(String(k)) ?? old.get(String(k));
                if (r) next.set(r.id, r);
              }
              return next;
            });
          },
        }}
        pagination={{
          current: page.page,
          pageSize: page.page_size,
          total,
          showSizeChanger: true,
          pageSizeOptions: [10, 20, 50, 100],
          showTotal: (n, [from, to]) => t("q_total").replace("{from}", String(from)).replace("{to}", String(to)).replace("{total}", String(n)),
          onChange: (p, size) => setPage({ page: size !== page.page_size ? 1 : p, page_size: size }),
        }}
        columns={[
          { title: t("q_status"), dataIndex: "status", render: (s: string) => <Tag>{label(s)}</Tag> },
          { title: t("serial_no"), dataIndex: "serial_no", render: (v: string, r) => <Link to={`/applications/${r.id}`}>{v}</Link> },
          { title: t("form_no"), dataIndex: "form_no", render: fmt },
          { title: t("license_no"), dataIndex: "license_no", render: fmt },
          { title: t("commodity_name"), dataIndex: "commodity_name", render: fmt },
          { title: t("q_quantity"), dataIndex: "total_quantity", align: "right", render: fmt },
          { title: t("unit"), dataIndex: "unit", render: (v?: string | null) => (v ? (units.get(v) ?? v) : "-") },
          { title: t("q_amount_usd"), dataIndex: "total_value_usd", align: "right", render: fmt },
          { title: t("q_applied_at"), dataIndex: "applied_at", render: (v?: string | null) => (v ? v.slice(0, 10) : "-") },
        ]}
      />
      </div>
      {batch && (
        <Modal
          open
          title={batch.title}
          closable={!!batch.results}
          maskClosable={false}
          onCancel={() => setBatch(null)}
          footer={[
            <Button key="ok" type="primary" disabled={!batch.results} onClick={() => setBatch(null)}>
              {t("ok")}
            </Button>,
          ]}
          width={760}
        >
          <div data-testid="batch-progress" data-done={batch.progress.done} data-total={batch.progress.total}>
            <Progress
              percent={batch.progress.total ? Math.round((100 * batch.progress.done) / batch.progress.total) : 100}
              aria-label={t("q_progress")}
            />
            <Typography.Text>
              {batch.progress.done} / {batch.progress.total}
            </Typography.Text>
          </div>
          {batch.results && (
            <>
              <Typography.Paragraph data-testid="batch-summary" style={{ marginTop: 12 }}>
                {t("q_done")}: {batch.results.filter((r) => r.ok).length} · {t("q_refused")}: {batch.results.filter((r) => !r.ok).length}
              </Typography.Paragraph>
              <div data-testid="batch-results">
              <Table<RowResult>
                rowKey="id"
                size="small"
                dataSource={batch.results}
                pagination={false}
                scroll={{ y: 320 }}
                columns={[
                  { title: t("serial_no"), dataIndex: "id", render: (id: string) => batch.serials.get(id) ?? id },
                  {
                    title: t("q_result"),
                    dataIndex: "ok",
                    // Solid dark colours: white text on them passes WCAG AA (the light presets do not).
                    render: (ok: boolean) => <Tag color={ok ? "#1b5e20" : "#b71c1c"}>{ok ? t("q_done") : t("q_refused")}</Tag>,
                  },
                  { title: t("q_reason"), dataIndex: "reason", render: (v?: string | null) => v ?? "" },
                ]}
              />
              </div>
            </>
          )}
        </Modal>
      )}
      {pdf && (
        <Modal open title={t("q_print")} width={900} onCancel={() => { URL.revokeObjectURL(pdf); setPdf(null); }} footer={[
          <a key="dl" href={pdf} download="applications.pdf">{t("download")}</a>,
        ]}>
          <iframe title={t("print_preview")} src={pdf} style={{ width: "100%", height: 600, border: 0 }} data-testid="print-frame" />
        </Modal>
      )}
    </>
  );
}
