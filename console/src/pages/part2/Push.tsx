// 状态推送: the enterprise's webhook subscriptions (URL, which applications, the secret shown
// once), each one's deliveries with their attempts and redeliver, and a live feed of the
// enterprise's status changes (the SSE stream, the same changes the webhooks carry).
import { Alert, App, Button, Card, Checkbox, Form, Input, InputNumber, List, Modal, Popconfirm, Radio, Space, Table, Tag, Typography } from "antd";
import { useCallback, useEffect, useState } from "react";
import { api, call, type Schemas } from "../../api/client";
import {
  deliveryStateLabels, useCustomsStatusLabel, useLabels, useLicenseStateLabel, useStatusLabel, useT, useWebhookTypeLabel, WEBHOOK_TYPES,
  type WebhookType,
} from "../../i18n";
import { useSession } from "../../session";
import { errorText, Title, when } from "./common";
import { addToFeed, canRedeliver, feedSubject, parseIds, snakeType, type FeedItem } from "./format";

type Sub = Schemas["SubscriptionView"];
type Delivery = Schemas["DeliveryView"];
type Attempt = { attempt_no?: number; started_at?: string; duration_ms?: number | null; status_code?: number | null; error?: string | null };
type NewSub = {
  url: string;
  scope: "all" | "some";
  ids?: string;
  events: "all" | "some";
  event_types?: WebhookType[];
  description?: string;
  retry?: number;
};

const DELIVERY_TONE: Record<string, string> = { delivered: "#1b5e20", failed: "#b71c1c", pending: "#5c5c5c" };

/** A webhook type in the screen's language, its machine name beside it (what the receiver gets
 * in ``type``). ``tp``: the snake-case type (``application.clearance_recorded``). */
function TypeName({ tp, raw }: { tp: string; raw?: string }) {
  const typeLabel = useWebhookTypeLabel();
  const known = typeLabel(tp);
  const name = raw ?? tp.replace(/^application\./, "");
  return known !== tp ? <>{known} <code style={{ fontSize: 11 }}>{name}</code></> : <code>{name}</code>;
}

function Deliveries({ sub }: { sub: Sub }) {
  const t = useT();
  const deliveryState = useLabels(deliveryStateLabels);
  const { message } = App.useApp();
  const [rows, setRows] = useState<Delivery[]>([]);
  const [total, setTotal] = useState(0);
  const load = useCallback(async () => {
    const r = await call(
      api.GET("/api/v1/subscriptions/{subscription_id}/deliveries", { params: { path: { subscription_id: sub.id }, query: { page_size: 50 } } }),
    );
    setRows(r.items);
    setTotal(r.total);
  }, [sub.id]);
  useEffect(() => {
    void load();
    const timer = window.setInterval(() => void load().catch(() => undefined), 3000);
    return () => window.clearInterval(timer);
  }, [load]);
  const redeliver = async (d: Delivery) => {
    try {
      await call(
        api.POST("/api/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/redeliver", {
          params: { path: { subscription_id: sub.id, delivery_id: d.id }, header: { "Idempotency-Key": crypto.randomUUID() } as never },
        }),
      );
      message.success(t("p2_redelivered"));
      await load();
    } catch (e) {
      message.error(errorText(e));
    }
  };
  return (
    <Card
      title={`${t("p2_deliveries")} · ${sub.url}`}
      size="small"
      extra={<Button size="small" onClick={() => void load()}>{t("p2_refresh")}</Button>}
    >
      <Table<Delivery>
        rowKey="id"
        size="small"
        data-testid="deliveries"
        dataSource={rows}
        pagination={{ pageSize: 50, total, showTotal: (n) => `${t("p2_total_n")} ${n}` }}
        expandable={{
          rowExpandable: (d) => !!d.attempt_log?.length,
          expandedRowRender: (d) => (
            <Table<Attempt>
              size="small"
              aria-label={t("p2_attempt_log")}
              rowKey={(_, i) => String(i)}
              pagination={false}
              dataSource={(d.attempt_log ?? []) as Attempt[]}
              columns={[
                { title: "#", render: (_: unknown, a: Attempt, i: number) => a.attempt_no ?? i + 1 },
                { title: t("p2_occurred_at"), dataIndex: "started_at", render: when },
                { title: t("p2_duration"), dataIndex: "duration_ms", render: (v?: number | null) => (v === undefined || v === null ? "-" : `${Math.round(v)} ms`) },
                { title: t("p2_http_status"), dataIndex: "status_code", render: (v?: number | null) => v ?? "-" },
                { title: t("p2_last_error"), dataIndex: "error", render: (v?: string | null) => v || "-" },
              ]}
            />
          ),
        }}
        columns={[
          { title: t("p2_event_type"), dataIndex: "event_type", render: (v: string) => <TypeName tp={snakeType(v)} raw={v} /> },
          { title: t("p2_application"), dataIndex: "application_id" },
          { title: t("p2_state"), dataIndex: "state", render: (s: string) => <Tag color={DELIVERY_TONE[s]} data-testid="delivery-state">{deliveryState(s)}</Tag> },
          { title: t("p2_attempts"), dataIndex: "attempts" },
          { title: t("p2_delivered_at"), dataIndex: "delivered_at", render: when },
          { title: t("p2_last_error"), dataIndex: "last_error", render: (v: string | null) => v || "-" },
          {
            title: t("actions"),
            render: (_: unknown, d) =>
              canRedeliver(d.state) ? <Button size="small" onClick={() => void redeliver(d)}>{t("p2_redeliver")}</Button> : null,
          },
        ]}
      />
    </Card>
  );
}

/** What one feed line is about (``feedSubject``): the status a change sets, or what a fact that
 * sets none records (a customs status, a declaration, the license's state). */
function FeedSubjectText({ data }: { data: Record<string, unknown> }) {
  const t = useT();
  const label = useStatusLabel();
  const customs = useCustomsStatusLabel();
  const licenseState = useLicenseStateLabel();
  const s = feedSubject(data);
  const text =
    s.kind === "status" ? label(s.value)
      : s.kind === "customs" ? customs(s.value)
        : s.kind === "license_state" ? `${t("p2_license_state")}: ${licenseState(s.value)}`
          : s.kind === "declaration" ? `${t("p2_declaration_no")} ${s.value}${s.quantity ? ` · ${s.quantity}` : ""}`
            : null;
  return text ? <span data-testid="feed-subject">{text}</span> : null;
}

/** The webhook types to choose, one checkbox each. The form's aria-required/aria-invalid stay
 * off the group (a div may not carry them; the axe scan checks): only its id and value are used. */
function TypeChoice({ id, value, onChange, label }: { id?: string; value?: WebhookType[]; onChange?: (v: WebhookType[]) => void; label: string }) {
  const typeLabel = useWebhookTypeLabel();
  return (
    <div id={id} role="group" aria-label={label}>
      <Checkbox.Group value={value} onChange={(v) => onChange?.(v as WebhookType[])} style={{ display: "grid", gridTemplateColumns: "1fr 1fr", rowGap: 4 }}>
        {WEBHOOK_TYPES.map((tp) => (
          <Checkbox key={tp} value={tp}>
            {typeLabel(tp)} <code style={{ fontSize: 11 }}>{tp.replace(/^application\./, "")}</code>
          </Checkbox>
        ))}
      </Checkbox.Group>
    </div>
  );
}

function LiveFeed() {
  const t = useT();
  const { session } = useSession();
  const [feed, setFeed] = useState<FeedItem[]>([]);
  const [open, setOpen] = useState(false);
  useEffect(() => {
    // From the next change on (no replay): a live view, not the history.
    const es = new EventSource("/api/v1/events/stream");
    const onEvent = (ev: MessageEvent<string>) => {
      const data = JSON.parse(ev.data) as Record<string, unknown>;
      setFeed((f) => addToFeed(f, { id: ev.lastEventId, type: ev.type, data, at: Date.now() }));
    };
    // EventSource hands a named event only to a listener of that name: one per webhook type (the
    // status service's list, so none is missed: LicenseReopened was, in a hand-made list).
    for (const tp of WEBHOOK_TYPES) es.addEventListener(tp, onEvent as EventListener);
    es.onmessage = onEvent;
    es.onopen = () => setOpen(true);
    es.onerror = () => setOpen(false);
    return () => es.close();
  }, [session?.acting_enterprise]);
  return (
    <Card
      size="small"
      title={t("p2_live_feed")}
      extra={<Tag color={open ? "#1b5e20" : "#5c5c5c"} data-testid="live-state">{open ? t("p2_connected") : t("p2_reconnecting")}</Tag>}
    >
      <List
        data-testid="live-feed"
        size="small"
        dataSource={feed}
        locale={{ emptyText: t("p2_live_waiting") }}
        renderItem={(f) => (
          <List.Item>
            <Space wrap>
              <span>{new Date(f.at).toLocaleTimeString("zh-CN", { hour12: false })}</span>
              <Tag><TypeName tp={f.type} /></Tag>
              <span>{String(f.data.serial_no ?? f.data.application_id ?? "")}</span>
              <FeedSubjectText data={f.data} />
              {f.data.license_no ? <span>{String(f.data.license_no)}</span> : null}
              {f.data.reason ? <span>{String(f.data.reason)}</span> : null}
            </Space>
          </List.Item>
        )}
      />
    </Card>
  );
}

export function Push() {
  const t = useT();
  const { message } = App.useApp();
  const { session } = useSession();
  const [subs, setSubs] = useState<Sub[]>([]);
  const [selected, setSelected] = useState<Sub | null>(null);
  const [creating, setCreating] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const [form] = Form.useForm<NewSub>();
  const scope = Form.useWatch("scope", form);
  const events = Form.useWatch("events", form);
  const typeLabel = useWebhookTypeLabel();
  const load = useCallback(async () => {
    const r = await call(api.GET("/api/v1/subscriptions", { params: { query: { page_size: 100 } } }));
    setSubs(r.items);
    return r.items;
  }, []);
  useEffect(() => {
    void load().catch((e) => message.error(errorText(e)));
  }, [load, message, session?.acting_enterprise]);
  const create = async (v: NewSub) => {
    setProblems([]);
    const ids = parseIds(v.ids ?? "");
    try {
      const made = await call(
        api.POST("/api/v1/subscriptions", {
          params: { header: { "Idempotency-Key": crypto.randomUUID() } as never },
          body: {
            url: v.url.trim(),
            ...(v.scope === "all" ? { all_applications: true } : { application_ids: ids, all_applications: false }),
            // "all" sends no event_types: every type, those added later too (docs/status.md)
            ...(v.events === "some" ? { event_types: v.event_types ?? [] } : {}),
            description: v.description ?? "",
            ...(v.retry ? { retry_period_seconds: v.retry } : {}),
          },
        }),
      );
      setCreating(false);
      form.resetFields();
      setSecret(made.secret ?? null);
      const items = await load();
      setSelected(items.find((s) => s.id === made.id) ?? null);
    } catch (e) {
      const err = e as { details?: { field: string; reason: string }[] };
      setProblems(err.details?.length ? err.details.map((d) => `${d.field}: ${d.reason}`) : [errorText(e)]);
    }
  };
  const remove = async (s: Sub) => {
    try {
      await call(api.DELETE("/api/v1/subscriptions/{subscription_id}", { params: { path: { subscription_id: s.id } } }));
      if (selected?.id === s.id) setSelected(null);
      await load();
    } catch (e) {
      message.error(errorText(e));
    }
  };
  return (
    <>
      <Space style={{ justifyContent: "space-between", width: "100%" }}>
        <Title>{t("menu_push")}</Title>
        <Button type="primary" onClick={() => { setProblems([]); setCreating(true); }}>{t("p2_new_subscription")}</Button>
      </Space>
      <Space direction="vertical" size="large" style={{ width: "100%" }}>
        <Table<Sub>
          rowKey="id"
          data-testid="subscriptions"
          dataSource={subs}
          pagination={false}
          columns={[
            { title: t("p2_webhook_url"), dataIndex: "url" },
            {
              title: t("p2_scope"),
              render: (_: unknown, s) => (s.all_applications ? t("p2_all_applications") : `${t("p2_some_applications")} (${s.application_ids.length})`),
            },
            {
              title: t("p2_events"),
              render: (_: unknown, s) =>
                s.event_types ? (
                  <Space size={[0, 4]} wrap data-testid="subscription-events">
                    {s.event_types.map((tp) => <Tag key={tp} title={tp}>{typeLabel(tp)}</Tag>)}
                  </Space>
                ) : (
                  <span data-testid="subscription-events">{t("p2_events_all")}</span>
                ),
            },
            { title: t("p2_description"), dataIndex: "description" },
            { title: t("created_at"), dataIndex: "created_at", render: when },
            {
              title: t("actions"),
              render: (_: unknown, s) => (
                <Space>
                  <Button size="small" type={selected?.id === s.id ? "primary" : "default"} onClick={() => setSelected(s)}>{t("p2_deliveries")}</Button>
                  <Popconfirm title={t("confirm_delete")} okText={t("delete")} cancelText={t("cancel")} onConfirm={() => void remove(s)}>
                    <Button size="small" danger>{t("delete")}</Button>
                  </Popconfirm>
                </Space>
              ),
            },
          ]}
        />
        {selected ? <Deliveries key={selected.id} sub={selected} /> : null}
        <LiveFeed />
      </Space>
      <Modal
        open={creating}
        title={t("p2_new_subscription")}
        okText={t("ok")}
        cancelText={t("cancel")}
        onCancel={() => setCreating(false)}
        onOk={() => form.submit()}
        destroyOnClose
      >
        <Form form={form} layout="vertical" initialValues={{ scope: "all", events: "all" }} onFinish={(v) => void create(v)}>
          <Form.Item name="url" label={t("p2_webhook_url")} rules={[{ required: true }]}>
            <Input placeholder="https://example.com/ail-webhook" />
          </Form.Item>
          <Form.Item name="events" label={t("p2_events")}>
            <Radio.Group>
              <Radio value="all">{t("p2_events_all")}</Radio>
              <Radio value="some">{t("p2_events_some")}</Radio>
            </Radio.Group>
          </Form.Item>
          {events === "some" ? (
            <Form.Item name="event_types" label={t("p2_events_pick")} rules={[{ required: true, type: "array", min: 1 }]}>
              <TypeChoice label={t("p2_events_pick")} />
            </Form.Item>
          ) : null}
          <Form.Item name="scope" label={t("p2_scope")}>
            <Radio.Group>
              <Radio value="all">{t("p2_all_applications")}</Radio>
              <Radio value="some">{t("p2_some_applications")}</Radio>
            </Radio.Group>
          </Form.Item>
          {scope === "some" ? (
            <Form.Item name="ids" label={t("p2_application_ids")} rules={[{ required: true }]}>
              <Input.TextArea rows={3} />
            </Form.Item>
          ) : null}
          <Form.Item name="description" label={t("p2_description")}>
            <Input maxLength={200} />
          </Form.Item>
          <Form.Item name="retry" label={t("p2_retry_period")}>
            <InputNumber min={1} max={604800} style={{ width: 200 }} />
          </Form.Item>
          {problems.length ? <Alert type="error" data-testid="subscription-error" message={t("problems")} description={problems.join("; ")} /> : null}
        </Form>
      </Modal>
      <Modal open={!!secret} title={t("p2_secret")} okText={t("ok")} cancelButtonProps={{ style: { display: "none" } }} onOk={() => setSecret(null)} onCancel={() => setSecret(null)}>
        <Alert type="warning" message={t("p2_secret_once")} style={{ marginBottom: 12 }} />
        <Typography.Paragraph copyable={{ text: secret ?? "" }}>
          <code data-testid="subscription-secret">{secret}</code>
        </Typography.Paragraph>
      </Modal>
    </>
  );
}
