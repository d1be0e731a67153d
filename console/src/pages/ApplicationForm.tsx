// 自动进口许可证申请表, box by box. Everything the form shows comes from the API's answer
// (defaults, totals, USD, valid_until, problems); 暂存 saves what is typed, however incomplete.
// Unsaved input is also kept in localStorage until it is saved, so nothing typed is lost; once
// the application is submitted (no longer a draft) the form shows what was submitted, and a
// local copy left over is dropped (it can never be saved any more).
import {
  Alert, App, Button, Card, Col, Descriptions, Form, Input, Modal, Row, Space, Table, Tag, Typography,
} from "antd";
import { useCallback, useEffect, useRef, useState } from "react";
import { useBlocker, useNavigate, useParams } from "react-router-dom";
import { api, call, isApiError, type Application, type Problem } from "../api/client";
import { CodeSelect, loadTable } from "../components/CodeSelect";
import { useProblemText, useStatusLabel, useT, type Key } from "../i18n";
import { AttachmentsDialog } from "./AttachmentsDialog";
import { ContractDialog, IronOreDialog } from "./ContractDialogs";
import { NotFound } from "./NotFound";
import { SubmitDialog } from "./SubmitDialog";

const EDITABLE = [
  "handler_name", "import_user_code", "import_user_name", "trade_mode", "trade_country", "forex_source",
  "origin_country", "customs_ports", "commodity_usage", "expected_arrival_date", "commodity_code", "currency",
  "goods", "remarks",
] as const;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Values = Record<string, any>;

/** "goods.0.quantity" (the API's field path) -> ["goods", 0, "quantity"] (the form's name path). */
export function pathOf(field: string): [string, number] {
  // The form's name path type lists only two levels; the API's paths go deeper (goods lines).
  return field.split(".").map((p) => (/^\d+$/.test(p) ? Number(p) : p)) as unknown as [string, number];
}

function valuesOf(app: Application): Values {
  const v: Values = {};
  for (const k of EDITABLE) v[k] = (app as Record<string, unknown>)[k] ?? (k === "goods" ? [] : null);
  v.goods = (app.goods ?? []).map((g) => ({ spec: g.spec, unit: g.unit, quantity: g.quantity, unit_price: g.unit_price }));
  return v;
}

export const STREAM_TYPES = [
  "ApplicationSubmitted", "ApplicationSigned", "SigningFailed", "SigningDeferred", "SubmissionAccepted",
  "SubmissionRejected", "ReviewResultReceived", "ApplicationRevoked", "LicenseIssued", "CustomsStored",
].map((e) => "application." + e.replace(/(?<!^)(?=[A-Z])/g, "_").toLowerCase());

const unsavedKey = (id: string) => `ail.unsaved.${id}`;

export function ApplicationForm() {
  const { id = "" } = useParams();
  const t = useT();
  const label = useStatusLabel();
  const problemText = useProblemText();
  const nav = useNavigate();
  const { message, modal } = App.useApp();
  const [form] = Form.useForm<Values>();
  const [app, setApp] = useState<Application | null | undefined>(undefined);
  const [dirty, setDirty] = useState(false);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [dialog, setDialog] = useState<null | "contract" | "iron" | "files" | "submit" | "print">(null);
  const [live, setLive] = useState<{ status?: string; form_no?: string; license_no?: string }>({});
  const appRef = useRef<Application | null>(null);
  const [unitName, setUnitName] = useState<string>("");

  const show = useCallback(
    (a: Application, restoreUnsaved = false) => {
      appRef.current = a;
      setApp(a);
      let values = valuesOf(a);
      if (a.status !== "draft") {
        localStorage.removeItem(unsavedKey(a.id));
        setDirty(false);
      }
      const kept = localStorage.getItem(unsavedKey(a.id));
      if (restoreUnsaved && kept) {
        values = { ...values, ...JSON.parse(kept) };
        setDirty(true);
        message.info(t("unsaved_restored"));
      }
      form.resetFields();
      form.setFieldsValue(values);
      const ps = (a.problems ?? []) as Problem[];
      setProblems(ps);
      form.setFields(ps.map((p) => ({ name: pathOf(p.field), errors: [problemText(p)] })));
    },
    [form, message, t, problemText],
  );

  const load = useCallback(
    async (restore = false) => {
      const { data, response } = await api.GET("/api/v1/applications/{application_id}", {
        params: { path: { application_id: id } },
      });
      if (!response.ok) return setApp(null);
      show(data as Application, restore);
    },
    [id, show],
  );
  useEffect(() => {
    void load(true);
  }, [load]);

  // The unit as the goods table shows it (070 吨): its name from the code table.
  const unit = app?.unit;
  useEffect(() => {
    let live = true;
    if (unit) void loadTable("units").then((rows) => live && setUnitName(rows.find((r) => r.code === unit)?.name_zh ?? ""));
    return () => {
      live = false;
    };
  }, [unit]);

  // Live status (SSE): every change of this enterprise; ours updates the header at once.
  useEffect(() => {
    const es = new EventSource("/api/v1/events/stream");
    const onEvent = (ev: MessageEvent<string>) => {
      const d = JSON.parse(ev.data) as Record<string, unknown>;
      if (d.application_id !== id) return;
      setLive((l) => ({
        status: (d.current_status as string) ?? l.status,
        form_no: (d.form_no as string) ?? l.form_no,
        license_no: (d.license_no as string) ?? l.license_no,
      }));
      if (!localStorage.getItem(unsavedKey(id))) void load();
    };
    // The stream names each change by its event type (webhook types, docs/status.md).
    for (const tp of STREAM_TYPES) es.addEventListener(tp, onEvent as EventListener);
    es.onmessage = onEvent;
    return () => es.close();
  }, [id, load]);

  // Leaving with unsaved changes asks first (inside the console and when closing the tab).
  const blocker = useBlocker(({ currentLocation, nextLocation }) => dirty && currentLocation.pathname !== nextLocation.pathname);
  useEffect(() => {
    if (blocker.state === "blocked") {
      modal.confirm({
        title: t("unsaved_leave"),
        okText: t("ok"),
        cancelText: t("cancel"),
        onOk: () => blocker.proceed(),
        onCancel: () => blocker.reset(),
      });
    }
  }, [blocker, modal, t]);
  useEffect(() => {
    const onUnload = (e: BeforeUnloadEvent) => {
      if (dirty) e.preventDefault();
    };
    window.addEventListener("beforeunload", onUnload);
    return () => window.removeEventListener("beforeunload", onUnload);
  }, [dirty]);

  if (app === undefined) return null;
  if (app === null) return <NotFound />;
  const status = live.status ?? app.status;
  const editable = status === "draft";
  const ironOre = (form.getFieldValue("commodity_code") ?? app.commodity_code ?? "").startsWith("2601");

  const save = async () => {
    const v = form.getFieldsValue(true) as Values;
    const body: Values = {};
    for (const k of EDITABLE) body[k] = v[k] === "" ? null : v[k];
    try {
      const a = await call(
        api.PATCH("/api/v1/applications/{application_id}", {
          params: { path: { application_id: id } },
          body: body as never,
        }),
      );
      localStorage.removeItem(unsavedKey(id));
      setDirty(false);
      show(a);
      message.success(t("saved"));
    } catch (e) {
      if (isApiError(e)) {
        setProblems(e.details);
        form.setFields(e.details.map((p) => ({ name: pathOf(p.field), errors: [problemText(p)] })));
        message.error(e.message);
      } else message.error(String(e));
    }
  };
  const act = async (what: "revoke" | "refresh" | "copy" | "delete") => {
    try {
      if (what === "revoke") {
        await call(api.POST("/api/v1/applications/{application_id}/revoke", { params: { path: { application_id: id } } }));
      } else if (what === "refresh") {
        await call(api.POST("/api/v1/applications/{application_id}/approval-status", { params: { path: { application_id: id } } }));
      } else if (what === "copy") {
        const r = await call(api.POST("/api/v1/applications/{application_id}/copies", { params: { path: { application_id: id } }, body: { count: 1 } }));
        message.success(`${t("copy")}: ${r.copies.length}`);
        return;
      } else {
        await call(api.DELETE("/api/v1/applications/{application_id}", { params: { path: { application_id: id } } }));
        localStorage.removeItem(unsavedKey(id));
        setDirty(false);
        nav("/");
        return;
      }
      await load();
    } catch (e) {
      message.error(isApiError(e) ? e.message : String(e));
    }
  };
  const field = (name: (typeof EDITABLE)[number], node: JSX.Element, required = true, span = 8) => (
    <Col span={span}>
      <Form.Item label={t(name as Key)} name={name} required={required}>
        {node}
      </Form.Item>
    </Col>
  );
  const ro = (labelKey: Key, value: unknown, testid?: string) => (
    <Descriptions.Item label={t(labelKey)}>
      <span data-testid={testid}>{value === null || value === undefined ? "" : String(value)}</span>
    </Descriptions.Item>
  );
  const goods = (app.goods ?? []) as Array<Record<string, unknown>>;
  return (
    <Space direction="vertical" style={{ width: "100%" }} size="middle">
      <Card>
        <Space style={{ justifyContent: "space-between", width: "100%" }} wrap>
          <Typography.Title level={1} style={{ fontSize: 20, margin: 0 }}>
            {t("form_title")}
          </Typography.Title>
          <Space wrap>
            <Button type="primary" disabled={!editable} onClick={() => void save()}>
              {t("save")}
            </Button>
            <Button onClick={() => setDialog("contract")}>{t("contract")}</Button>
            {ironOre && <Button onClick={() => setDialog("iron")}>{t("iron_ore")}</Button>}
            <Button onClick={() => setDialog("files")}>{t("attachments")}</Button>
            <Button onClick={() => setDialog("print")}>{t("print")}</Button>
            <Button onClick={() => void act("copy")}>{t("copy")}</Button>
            <Button danger disabled={!editable} onClick={() => modal.confirm({ title: t("confirm_delete"), okText: t("delete"), cancelText: t("cancel"), okButtonProps: { danger: true }, onOk: () => act("delete") })}>
              {t("delete")}
            </Button>
            <Button type="primary" disabled={!editable} onClick={() => (dirty ? void save().then(() => setDialog("submit")) : setDialog("submit"))}>
              {t("submit")}
            </Button>
            <Button disabled={status !== "pending_first_review" && status !== "pending_second_review"} onClick={() => void act("revoke")}>
              {t("revoke")}
            </Button>
            <Button disabled={editable} onClick={() => void act("refresh")}>
              {t("refresh_status")}
            </Button>
          </Space>
        </Space>
        <Descriptions size="small" column={4} style={{ marginTop: 16 }} bordered>
          {ro("serial_no", app.serial_no, "serial-no")}
          <Descriptions.Item label={t("status")}>
            <Tag color="#0d47a1" data-testid="status" aria-live="polite">
              {label(status)}
            </Tag>
          </Descriptions.Item>
          {ro("form_no", live.form_no ?? app.form_no, "form-no")}
          {ro("license_no", live.license_no ?? app.license_no, "license-no")}
          {ro("year", app.year)}
          {ro("importer", `${app.importer_name} (${app.importer_code})`)}
          {ro("issuing_agency", app.issuing_agency)}
          {ro("valid_until", app.valid_until, "valid-until")}
          {ro("commodity_name", app.commodity_name)}
          {ro("unit", app.unit ? `${app.unit} ${unitName}`.trim() : null, "unit")}
          {ro("total_quantity", app.total_quantity, "total-quantity")}
          {ro("total_value_usd", app.total_value_usd, "total-usd")}
        </Descriptions>
      </Card>
      {problems.length > 0 && (
        <Alert
          type="warning"
          showIcon
          data-testid="problems"
          message={t("problems")}
          description={
            <ul style={{ margin: 0 }}>
              {problems.map((p, i) => (
                <li key={i}>
                  <code>{p.field}</code>: {problemText(p)}
                </li>
              ))}
            </ul>
          }
        />
      )}
      <Card>
        <Form<Values>
          form={form}
          layout="vertical"
          disabled={!editable}
          onValuesChange={(_, all) => {
            setDirty(true);
            localStorage.setItem(unsavedKey(id), JSON.stringify(all));
          }}
        >
          <Row gutter={16}>
            {field("handler_name", <Input />)}
            {field("import_user_code", <Input />)}
            {field("import_user_name", <Input />)}
            {field("trade_mode", <CodeSelect table="trade_modes" aria-label={t("trade_mode")} />)}
            {field("trade_country", <CodeSelect table="countries" aria-label={t("trade_country")} />)}
            {field("forex_source", <CodeSelect table="forex_sources" aria-label={t("forex_source")} />)}
            {field("origin_country", <CodeSelect table="countries" aria-label={t("origin_country")} />)}
            {field("customs_ports", <CodeSelect table="customs_ports" multiple max={2} aria-label={t("customs_ports")} />)}
            {field("commodity_usage", <CodeSelect table="commodity_usages" aria-label={t("commodity_usage")} />)}
            {field("expected_arrival_date", <Input placeholder="YYYY-MM-DD" />)}
            {field("commodity_code", <CodeSelect table="commodities" remote aria-label={t("commodity")} />)}
            {field("currency", <CodeSelect table="currencies" aria-label={t("currency")} />)}
          </Row>
          <Typography.Title level={2} style={{ fontSize: 16 }}>
            {t("goods")}
          </Typography.Title>
          <Form.List name="goods">
            {(rows, { add, remove }) => (
              <>
                <Table
                  size="small"
                  pagination={false}
                  rowKey="key"
                  dataSource={rows}
                  columns={[
                    { title: "#", render: (_: unknown, __: unknown, i: number) => i + 1, width: 40 },
                    { title: t("spec"), render: (_: unknown, r) => <Form.Item name={[r.name, "spec"]} style={{ margin: 0 }} required><Input aria-label={`${t("spec")} ${r.name + 1}`} /></Form.Item> },
                    { title: t("unit"), width: 180, render: (_: unknown, r) => <Form.Item name={[r.name, "unit"]} style={{ margin: 0 }}><CodeSelect table="units" aria-label={`${t("unit")} ${r.name + 1}`} /></Form.Item> },
                    { title: t("quantity"), render: (_: unknown, r) => <Form.Item name={[r.name, "quantity"]} style={{ margin: 0 }}><Input aria-label={`${t("quantity")} ${r.name + 1}`} /></Form.Item> },
                    { title: t("unit_price"), render: (_: unknown, r) => <Form.Item name={[r.name, "unit_price"]} style={{ margin: 0 }}><Input aria-label={`${t("unit_price")} ${r.name + 1}`} /></Form.Item> },
                    { title: t("total_value"), render: (_: unknown, r) => <span className="computed">{String(goods[r.name]?.total_value ?? "")}</span> },
                    { title: t("total_value_usd"), render: (_: unknown, r) => <span className="computed">{String(goods[r.name]?.total_value_usd ?? "")}</span> },
                    { title: t("actions"), render: (_: unknown, r) => <Button size="small" danger onClick={() => { remove(r.name); setDirty(true); }}>{t("delete")}</Button> },
                  ]}
                />
                <Button style={{ marginTop: 8 }} onClick={() => add({ spec: "", unit: app.unit ?? null, quantity: "", unit_price: "" })}>
                  {t("add_line")}
                </Button>
              </>
            )}
          </Form.List>
          <Form.Item label={t("remarks")} name="remarks" style={{ marginTop: 16 }} required={false}>
            <Input.TextArea rows={2} maxLength={500} />
          </Form.Item>
        </Form>
      </Card>
      {dialog === "contract" && <ContractDialog id={id} editable={editable} onClose={() => { setDialog(null); void load(); }} />}
      {dialog === "iron" && <IronOreDialog id={id} editable={editable} onClose={() => { setDialog(null); void load(); }} />}
      {dialog === "files" && <AttachmentsDialog id={id} editable={editable} onClose={() => setDialog(null)} />}
      {dialog === "submit" && (
        <SubmitDialog
          app={app}
          onClose={(done) => {
            setDialog(null);
            if (done) {
              // Submitted: what was saved is what was sent; nothing typed since can be saved now.
              localStorage.removeItem(unsavedKey(id));
              setDirty(false);
              void load();
            }
          }}
        />
      )}
      <Modal open={dialog === "print"} title={t("print_preview")} width={900} footer={null} onCancel={() => setDialog(null)} destroyOnClose>
        <iframe title={t("print_preview")} data-testid="print-frame" src={`/api/v1/applications/${id}/print`} style={{ width: "100%", height: 640, border: 0 }} />
      </Modal>
    </Space>
  );
}
