// The operations role's pages: time in status against the objective, the submission queue
// towards MOFCOM and the delivery queue towards Customs (resend / close with a reason), and the
// dead-letter topics (redrive / skip with a reason). Each is wrapped in OpsOnly; the API
// refuses every other account as well (403).
import { App, Button, Card, DatePicker, Descriptions, Form, Input, InputNumber, Select, Space, Table, Tag, Typography } from "antd";
import dayjs, { type Dayjs } from "dayjs";
import { useCallback, useEffect, useMemo, useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import type { Lang } from "../../i18n";
import {
  attemptsText, durationUnits, letterReasonLabels, letterStateLabels, opsActionLabels, queueStateLabels, useLabels, useLang,
  useStatusLabel, useT,
} from "../../i18n";
import { CustomsTag, errorText, OpsOnly, Title, useReasonAction, when } from "./common";
import { formatSeconds, formatShare, letterReason, overObjective } from "./format";

type TimeInStatus = Schemas["TimeInStatus"];
type Figures = Schemas["StatusFigures"];
type Submission = Schemas["OpsSubmission"];
type Delivery = Schemas["OpsDelivery"];
type TopicLetters = Schemas["TopicLetters"];
type Letter = Schemas["Message"];
type OpsAction = { action: string; reason: string; actor: string; at: string };

const STATES = ["queued", "retrying", "parked", "closed"] as const;
const LETTER_STATES = ["open", "redriven", "skipped"] as const;
const STATE_TONE: Record<string, string> = { queued: "#5c5c5c", retrying: "#8a4b00", parked: "#b71c1c", closed: "#0d47a1", open: "#b71c1c", redriven: "#1b5e20", skipped: "#5c5c5c" };
type Labels = Record<Lang, Record<string, string>>;

/** A queue's or a dead letter's state: a tag in the screen's language (the API's word for a
 * state the console does not know). */
function StateTag({ state, labels }: { state: string; labels: Labels }) {
  const label = useLabels(labels);
  return <Tag color={STATE_TONE[state]} data-testid="ops-state">{label(state)}</Tag>;
}

function Actions({ actions }: { actions: OpsAction[] }) {
  const action = useLabels(opsActionLabels);
  if (!actions.length) return <>-</>;
  // The action in the screen's language; the reason, actor and time as recorded.
  return (
    <ul style={{ margin: 0, paddingLeft: 16 }} data-testid="ops-actions">
      {actions.map((a, i) => (
        <li key={i}><span data-testid="ops-action">{action(a.action)}</span>{` · ${a.reason} · ${a.actor} · ${when(a.at)}`}</li>
      ))}
    </ul>
  );
}

/** A dead letter's reason: its code as a tag in the screen's language (with the attempts of
 * handler_failed), then the error as the consumer wrote it; a code the console does not know:
 * the reason as the API has it. */
function LetterReason({ reason }: { reason: string }) {
  const lang = useLang();
  const r = letterReason(reason);
  const known = letterReasonLabels[lang][r.code];
  if (!known) return <>{reason}</>;
  return (
    <Space size={4} wrap>
      <Tag data-testid="dlt-reason" title={r.code}>{r.attempts ? `${known} · ${attemptsText[lang](r.attempts)}` : known}</Tag>
      {r.detail ? <code style={{ fontSize: 12 }}>{r.detail}</code> : null}
    </Space>
  );
}

function Cell({ v, ok }: { v: number | null | undefined; ok: boolean }) {
  const units = durationUnits[useLang()];
  return <span style={ok ? undefined : { color: "#b71c1c", fontWeight: 600 }}>{formatSeconds(v, units)}</span>;
}

function TimeInStatusPage() {
  const t = useT();
  const label = useStatusLabel();
  const units = durationUnits[useLang()];
  const { message } = App.useApp();
  const [form] = Form.useForm<{ from?: Dayjs; to?: Dayjs; objective?: number }>();
  const [data, setData] = useState<TimeInStatus | null>(null);
  const load = useCallback(async () => {
    const f = form.getFieldsValue();
    try {
      setData(
        await call(
          api.GET("/api/v1/ops/time-in-status", {
            params: {
              query: {
                from: f.from ? f.from.startOf("day").toISOString() : undefined,
                to: f.to ? f.to.add(1, "day").startOf("day").toISOString() : undefined,
                objective_seconds: f.objective ?? undefined,
              } as never,
            },
          }),
        ),
      );
    } catch (e) {
      message.error(errorText(e));
    }
  }, [form, message]);
  useEffect(() => {
    void load();
  }, [load]);
  const objective = data?.objective.seconds;
  const rows = Object.entries(data?.per_status ?? {}).map(([status, f]) => ({ status, ...(f as Figures) }));
  return (
    <>
      <Title>{t("menu_ops_time")}</Title>
      <Form form={form} layout="inline" style={{ marginBottom: 16 }} initialValues={{ from: dayjs().subtract(7, "day") }} onFinish={() => void load()}>
        <Form.Item name="from" label={t("p2_date_from")}><DatePicker /></Form.Item>
        <Form.Item name="to" label={t("p2_date_to")}><DatePicker /></Form.Item>
        <Form.Item name="objective" label={t("p2_objective_seconds")}><InputNumber min={1} style={{ width: 120 }} /></Form.Item>
        <Button type="primary" htmlType="submit">{t("p2_query")}</Button>
      </Form>
      {data ? (
        <Space direction="vertical" size="large" style={{ width: "100%" }}>
          <Descriptions bordered size="small" column={4} data-testid="objective">
            <Descriptions.Item label={t("p2_objective")} span={2}>
              {`${label(data.objective.from_status)} → ${label(data.objective.to_status)} ≤ ${formatSeconds(data.objective.seconds, units)}`}
            </Descriptions.Item>
            <Descriptions.Item label={t("p2_share")} span={2}><span data-testid="objective-share">{formatShare(data.objective.share)}</span></Descriptions.Item>
            <Descriptions.Item label={t("p2_reached")}>{data.objective.reached}</Descriptions.Item>
            <Descriptions.Item label={t("p2_within")}>{data.objective.within}</Descriptions.Item>
            <Descriptions.Item label={t("p2_overdue")}>{data.objective.overdue}</Descriptions.Item>
            <Descriptions.Item label={t("p2_undecided")}>{`${data.objective.undecided} · ${t("p2_returned")} ${data.objective.returned}`}</Descriptions.Item>
          </Descriptions>
          <Table
            rowKey="status"
            size="small"
            pagination={false}
            data-testid="per-status"
            dataSource={rows}
            columns={[
              { title: t("status"), dataIndex: "status", render: (s: string) => label(s) },
              { title: t("p2_count"), dataIndex: "count" },
              { title: "p50", dataIndex: "p50_seconds", render: (v: number | null) => <Cell v={v} ok={!overObjective(v, objective)} /> },
              { title: "p90", dataIndex: "p90_seconds", render: (v: number | null) => <Cell v={v} ok={!overObjective(v, objective)} /> },
              { title: "p99", dataIndex: "p99_seconds", render: (v: number | null) => <Cell v={v} ok={!overObjective(v, objective)} /> },
            ]}
          />
          <Typography.Text>{`${t("p2_from_to")}: ${when(data.from)} – ${when(data.to)}`}</Typography.Text>
        </Space>
      ) : null}
    </>
  );
}

function useQueue<T>(fetcher: (state: string | undefined, page: number) => Promise<{ items: T[]; total: number }>) {
  const { message } = App.useApp();
  const [state, setState] = useState<string | undefined>(undefined);
  const [page, setPage] = useState(1);
  const [rows, setRows] = useState<T[]>([]);
  const [total, setTotal] = useState(0);
  const [loading, setLoading] = useState(false);
  const load = useCallback(async () => {
    setLoading(true);
    try {
      const r = await fetcher(state, page);
      setRows(r.items);
      setTotal(r.total);
    } catch (e) {
      message.error(errorText(e));
    } finally {
      setLoading(false);
    }
  }, [fetcher, state, page, message]);
  useEffect(() => {
    void load();
  }, [load]);
  return { state, setState: (s?: string) => { setState(s); setPage(1); }, page, setPage, rows, total, loading, load };
}

function StateFilter({ value, onChange, states, labels }: {
  value?: string;
  onChange: (s?: string) => void;
  states: readonly string[];
  labels: Labels;
}) {
  const t = useT();
  const label = useLabels(labels);
  return (
    <Space>
      <label htmlFor="ops-state">{t("p2_state")}</label>
      <Select
        id="ops-state"
        style={{ width: 160 }}
        value={value ?? ""}
        onChange={(v: string) => onChange(v || undefined)}
        options={[{ value: "", label: t("p2_state_all") }, ...states.map((s) => ({ value: s, label: label(s) }))]}
      />
    </Space>
  );
}

const fetchSubmissions = (serialNo: string) => (state: string | undefined, page: number) =>
  call(api.GET("/api/v1/ops/submissions", { params: { query: { state, page, page_size: 20, serial_no: serialNo || undefined } as never } }));
const fetchDeliveries = (licenseNo: string) => (state: string | undefined, page: number) =>
  call(api.GET("/api/v1/ops/customs-deliveries", { params: { query: { state, page, page_size: 20, license_no: licenseNo || undefined } as never } }));

function SubmissionsPage() {
  const t = useT();
  const [serialNo, setSerialNo] = useState("");
  const fetcher = useMemo(() => fetchSubmissions(serialNo), [serialNo]);
  const q = useQueue<Submission>(fetcher);
  const { ask, modal } = useReasonAction();
  const act = (s: Submission, action: "resend" | "close") =>
    ask(`${t(action === "resend" ? "p2_resend" : "p2_close")} ${s.form_no ?? s.last_request.serial_no}`, async (reason) => {
      await call(
        action === "resend"
          ? api.POST("/api/v1/ops/submissions/{submission_id}/resend", { params: { path: { submission_id: s.submission_id } }, body: { reason } })
          : api.POST("/api/v1/ops/submissions/{submission_id}/close", { params: { path: { submission_id: s.submission_id } }, body: { reason } }),
      );
      await q.load();
    });
  return (
    <>
      <Title>{t("p2_submission_queue")}</Title>
      <Space style={{ marginBottom: 16 }}>
        <StateFilter value={q.state} onChange={q.setState} states={STATES} labels={queueStateLabels} />
        <Input.Search
          aria-label={t("serial_no")}
          placeholder={t("serial_no")}
          allowClear
          enterButton={t("p2_query")}
          style={{ width: 300 }}
          onSearch={(v) => { setSerialNo(v.trim()); q.setPage(1); }}
        />
        <Button onClick={() => void q.load()}>{t("p2_refresh")}</Button>
      </Space>
      <Table<Submission>
        rowKey="submission_id"
        size="small"
        loading={q.loading}
        dataSource={q.rows}
        data-testid="submission-queue"
        scroll={{ x: true }}
        pagination={{ current: q.page, pageSize: 20, total: q.total, showSizeChanger: false, showTotal: (n) => `${t("p2_total_n")} ${n}`, onChange: q.setPage }}
        columns={[
          { title: t("serial_no"), render: (_: unknown, s) => s.last_request.serial_no },
          { title: t("form_no"), dataIndex: "form_no", render: (v: string | null) => v || "-" },
          { title: t("p2_enterprise"), dataIndex: "enterprise_code" },
          { title: t("commodity"), render: (_: unknown, s) => `${s.last_request.commodity_code} ${s.last_request.commodity_name}` },
          { title: t("p2_state"), dataIndex: "state", render: (v: string) => <StateTag state={v} labels={queueStateLabels} /> },
          { title: t("p2_attempts"), dataIndex: "attempts" },
          { title: t("p2_last_error"), dataIndex: "last_error", render: (v: string | null) => v || "-" },
          { title: t("p2_next_attempt"), dataIndex: "next_attempt_at", render: when },
          { title: t("p2_ops_actions"), render: (_: unknown, s) => <Actions actions={s.actions as OpsAction[]} /> },
          {
            title: t("actions"),
            render: (_: unknown, s) => (
              <Space>
                <Button size="small" onClick={() => act(s, "resend")}>{t("p2_resend")}</Button>
                <Button size="small" danger disabled={s.state === "closed"} onClick={() => act(s, "close")}>{t("p2_close")}</Button>
              </Space>
            ),
          },
        ]}
      />
      {modal}
    </>
  );
}

function DeliveriesPage() {
  const t = useT();
  const [licenseNo, setLicenseNo] = useState("");
  const fetcher = useMemo(() => fetchDeliveries(licenseNo), [licenseNo]);
  const q = useQueue<Delivery>(fetcher);
  const { ask, modal } = useReasonAction();
  const act = (d: Delivery, action: "resend" | "close") =>
    ask(`${t(action === "resend" ? "p2_resend" : "p2_close")} ${d.license_no}`, async (reason) => {
      await call(
        action === "resend"
          ? api.POST("/api/v1/ops/customs-deliveries/{license_no}/resend", { params: { path: { license_no: d.license_no } }, body: { reason } })
          : api.POST("/api/v1/ops/customs-deliveries/{license_no}/close", { params: { path: { license_no: d.license_no } }, body: { reason } }),
      );
      await q.load();
    });
  return (
    <>
      <Title>{t("p2_delivery_queue")}</Title>
      <Space style={{ marginBottom: 16 }}>
        <StateFilter value={q.state} onChange={q.setState} states={STATES} labels={queueStateLabels} />
        <Input.Search
          aria-label={t("license_no")}
          placeholder={t("license_no")}
          allowClear
          enterButton={t("p2_query")}
          style={{ width: 300 }}
          onSearch={(v) => { setLicenseNo(v.trim()); q.setPage(1); }}
        />
        <Button onClick={() => void q.load()}>{t("p2_refresh")}</Button>
      </Space>
      <Table<Delivery>
        rowKey="license_no"
        size="small"
        loading={q.loading}
        dataSource={q.rows}
        data-testid="delivery-queue"
        scroll={{ x: true }}
        pagination={{ current: q.page, pageSize: 20, total: q.total, showSizeChanger: false, showTotal: (n) => `${t("p2_total_n")} ${n}`, onChange: q.setPage }}
        columns={[
          { title: t("license_no"), dataIndex: "license_no" },
          { title: t("form_no"), render: (_: unknown, d) => d.last_request.form_no },
          { title: t("p2_enterprise"), dataIndex: "enterprise_code" },
          { title: t("p2_state"), dataIndex: "state", render: (v: string) => <StateTag state={v} labels={queueStateLabels} /> },
          { title: t("p2_customs_status"), render: (_: unknown, d) => <CustomsTag status={d.customs_status} label={d.customs_status_label} /> },
          { title: t("p2_attempts"), render: (_: unknown, d) => `${d.attempts} / ${d.failed_rounds}` },
          { title: t("p2_last_error"), dataIndex: "last_error", render: (v: string | null) => v || "-" },
          { title: t("p2_next_attempt"), dataIndex: "next_attempt_at", render: when },
          { title: t("p2_ops_actions"), render: (_: unknown, d) => <Actions actions={d.actions as OpsAction[]} /> },
          {
            title: t("actions"),
            render: (_: unknown, d) => (
              <Space>
                <Button size="small" onClick={() => act(d, "resend")}>{t("p2_resend")}</Button>
                <Button size="small" danger disabled={d.state === "closed"} onClick={() => act(d, "close")}>{t("p2_close")}</Button>
              </Space>
            ),
          },
        ]}
      />
      {modal}
    </>
  );
}

function DeadLettersPage() {
  const t = useT();
  const { message } = App.useApp();
  const [state, setState] = useState<string | undefined>("open");
  const [topics, setTopics] = useState<TopicLetters[]>([]);
  const [loading, setLoading] = useState(false);
  // A message found by its key or reason among many (a topic may hold hundreds of them).
  const [needle, setNeedle] = useState("");
  const matching = (m: Letter) => !needle || [m.key, m.reason].some((v) => (v ?? "").includes(needle));
  const { ask, modal } = useReasonAction();
  const load = useCallback(async () => {
    setLoading(true);
    try {
      const r = await call(api.GET("/api/v1/ops/dead-letters", { params: { query: { state, limit: 100 } as never } }));
      setTopics(r.items);
    } catch (e) {
      message.error(errorText(e));
    } finally {
      setLoading(false);
    }
  }, [state, message]);
  useEffect(() => {
    void load();
  }, [load]);
  const act = (m: Letter, action: "redrive" | "skip") =>
    ask(`${t(action === "redrive" ? "p2_redrive" : "p2_skip")} ${m.topic} ${m.partition}/${m.offset}`, async (reason) => {
      const body = { topic: m.topic, partition: m.partition, offset: m.offset, reason };
      await call(action === "redrive" ? api.POST("/api/v1/ops/dead-letters/redrive", { body }) : api.POST("/api/v1/ops/dead-letters/skip", { body }));
      await load();
    });
  return (
    <>
      <Title>{t("p2_dead_letters")}</Title>
      <Space style={{ marginBottom: 16 }}>
        <StateFilter value={state} onChange={setState} states={LETTER_STATES} labels={letterStateLabels} />
        <Input.Search
          allowClear
          aria-label={t("p2_dlt_search")}
          placeholder={t("p2_dlt_search")}
          style={{ width: 280 }}
          onChange={(e) => setNeedle(e.target.value.trim())}
        />
        <Button onClick={() => void load()} loading={loading}>{t("p2_refresh")}</Button>
      </Space>
      <Space direction="vertical" size="large" style={{ width: "100%" }}>
        {topics.map((tp) => (
          <Card key={tp.topic} size="small" title={<><code>{tp.topic}</code> ← <code>{tp.source_topic}</code> ({tp.messages.length})</>} data-testid={`dlt-${tp.topic}`}>
            <Table<Letter>
              rowKey={(m) => `${m.partition}-${m.offset}`}
              size="small"
              dataSource={tp.messages.filter(matching)}
              pagination={{ pageSize: 10, showSizeChanger: false }}
              scroll={{ x: true }}
              expandable={{ expandedRowRender: (m) => <pre style={{ whiteSpace: "pre-wrap", margin: 0 }}>{m.value_text ?? m.value_base64}</pre> }}
              columns={[
                { title: t("p2_partition_offset"), render: (_: unknown, m) => `${m.partition}/${m.offset}` },
                { title: t("p2_message_key"), dataIndex: "key" },
                { title: t("p2_reason"), dataIndex: "reason", render: (v: string) => <LetterReason reason={v} /> },
                { title: t("p2_consumer"), dataIndex: "consumer" },
                { title: t("p2_source"), render: (_: unknown, m) => `${m.source_topic} ${m.source_partition ?? ""}/${m.source_offset ?? ""}` },
                { title: t("p2_occurred_at"), dataIndex: "timestamp_ms", render: (v: number) => when(new Date(v).toISOString()) },
                { title: t("p2_state"), dataIndex: "state", render: (v: string) => <StateTag state={v} labels={letterStateLabels} /> },
                { title: t("p2_ops_actions"), render: (_: unknown, m) => <Actions actions={m.actions as OpsAction[]} /> },
                {
                  title: t("actions"),
                  render: (_: unknown, m) =>
                    m.state === "open" ? (
                      <Space>
                        <Button size="small" onClick={() => act(m, "redrive")}>{t("p2_redrive")}</Button>
                        <Button size="small" onClick={() => act(m, "skip")}>{t("p2_skip")}</Button>
                      </Space>
                    ) : null,
                },
              ]}
            />
          </Card>
        ))}
        {!topics.length && !loading ? <Typography.Text>{t("p2_no_data")}</Typography.Text> : null}
      </Space>
      {modal}
    </>
  );
}

export const OpsTimeInStatus = () => <OpsOnly><TimeInStatusPage /></OpsOnly>;
export const OpsSubmissions = () => <OpsOnly><SubmissionsPage /></OpsOnly>;
export const OpsDeliveries = () => <OpsOnly><DeliveriesPage /></OpsOnly>;
export const OpsDeadLetters = () => <OpsOnly><DeadLettersPage /></OpsOnly>;
