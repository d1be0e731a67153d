// One license: its customs status with the detail and the next re-send, the ledger (how much is
// left, uses left, until when), the availability check, and the ledger's entries.
import { Alert, App, Button, DatePicker, Descriptions, Form, InputNumber, Space, Table } from "antd";
import type { Dayjs } from "dayjs";
import { useCallback, useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { api, call, isApiError, type Schemas } from "../../api/client";
import { ledgerKindLabels, ledgerReasonLabels, useLabels, useT } from "../../i18n";
import { NotFound } from "../NotFound";
import { CustomsTag, errorText, LicenseStateText, Title, when } from "./common";
import { dateParam } from "./format";

type License = Schemas["LicenseView"];
type Ledger = Schemas["LedgerView"];
type Availability = Schemas["AvailabilityView"];
type Entry = { entry_no: number; kind: string; declaration_no?: string | null; quantity?: string | null; occurred_at?: string | null; reason?: string | null; detail?: string | null; used_after?: string | null; uses_after?: number | null };

export function LedgerFigures({ ledger }: { ledger: Ledger }) {
  const t = useT();
  return (
    <Descriptions bordered size="small" column={3} data-testid="ledger">
      <Descriptions.Item label={t("p2_licensed_quantity")}>{ledger.licensed_quantity} {ledger.unit}</Descriptions.Item>
      <Descriptions.Item label={t("p2_used_quantity")}>{ledger.used_quantity}</Descriptions.Item>
      <Descriptions.Item label={t("p2_remaining_quantity")}><span data-testid="remaining">{ledger.remaining_quantity}</span></Descriptions.Item>
      <Descriptions.Item label={t("p2_uses")}>{ledger.uses} / {ledger.max_uses}</Descriptions.Item>
      <Descriptions.Item label={t("p2_remaining_uses")}><span data-testid="remaining-uses">{ledger.remaining_uses}</span></Descriptions.Item>
      <Descriptions.Item label={t("valid_until")}><span data-testid="valid-until">{ledger.valid_until}</span></Descriptions.Item>
      <Descriptions.Item label={t("p2_tolerance")}>{ledger.tolerance_pct} % ({ledger.tolerance_source})</Descriptions.Item>
      <Descriptions.Item label={t("p2_ceiling")}>{ledger.ceiling}</Descriptions.Item>
      <Descriptions.Item label={t("p2_available_quantity")}>{ledger.available_quantity}</Descriptions.Item>
    </Descriptions>
  );
}

export function LicenseDetail() {
  const { no = "" } = useParams();
  const t = useT();
  const ledgerKind = useLabels(ledgerKindLabels);
  const ledgerReason = useLabels(ledgerReasonLabels);
  const { message } = App.useApp();
  const [lic, setLic] = useState<License | null | undefined>(undefined);
  const [nextResend, setNextResend] = useState<string | null>(null);
  const [answer, setAnswer] = useState<Availability | null>(null);
  const [form] = Form.useForm<{ quantity?: number; on?: Dayjs }>();
  const load = useCallback(async () => {
    try {
      setLic(await call(api.GET("/api/v1/licenses/{license_no}", { params: { path: { license_no: no } } })));
      // The next automatic re-send is in the status query's row of this license.
      const s = await call(api.GET("/api/v1/customs/status", { params: { query: { license_no: no, page_size: 1 } } }));
      setNextResend(s.items[0]?.next_auto_resend_at ?? null);
    } catch (e) {
      if (isApiError(e) && e.status === 404) setLic(null);
      else message.error(errorText(e));
    }
  }, [no, message]);
  useEffect(() => {
    void load();
  }, [load]);
  const check = async () => {
    const f = form.getFieldsValue();
    try {
      setAnswer(
        await call(
          api.GET("/api/v1/licenses/{license_no}/availability", {
            params: { path: { license_no: no }, query: { quantity: f.quantity ?? 0, on: dateParam(f.on) } as never },
          }),
        ),
      );
    } catch (e) {
      message.error(errorText(e));
    }
  };
  if (lic === null) return <NotFound />;
  if (!lic) return null;
  return (
    <>
      <Title>{t("p2_license_detail")} {lic.license_no}</Title>
      <Space direction="vertical" size="large" style={{ width: "100%" }}>
        <Descriptions bordered size="small" column={2}>
          <Descriptions.Item label={t("form_no")}>{lic.form_no ?? "-"}</Descriptions.Item>
          <Descriptions.Item label={t("commodity")}>{lic.commodity_code} {lic.commodity_name}</Descriptions.Item>
          <Descriptions.Item label={t("p2_customs_status")}>
            <CustomsTag status={lic.customs_status} label={lic.customs_status_label} />
          </Descriptions.Item>
          <Descriptions.Item label={t("p2_customs_detail")}>{lic.customs_detail || "-"}</Descriptions.Item>
          <Descriptions.Item label={t("p2_next_resend")}>{when(nextResend)}</Descriptions.Item>
          <Descriptions.Item label={t("p2_license_state")}>
            <LicenseStateText state={lic.license_state} label={lic.license_state_label} /> {lic.license_state_reason ?? ""}
          </Descriptions.Item>
        </Descriptions>
        <LedgerFigures ledger={lic.ledger} />
        <Space>
          <Link to={`/customs/clearances?license_no=${encodeURIComponent(no)}`}>{t("menu_clearances")}</Link>
          <Link to={`/customs/history?license_no=${encodeURIComponent(no)}`}>{t("menu_history")}</Link>
        </Space>
        <section aria-label={t("p2_availability")}>
          <Title level={2}>{t("p2_availability")}</Title>
          <Form form={form} layout="inline" onFinish={() => void check()}>
            <Form.Item name="quantity" label={t("quantity")} rules={[{ required: true }]}>
              <InputNumber min={0} style={{ width: 160 }} />
            </Form.Item>
            <Form.Item name="on" label={t("p2_on_date")}>
              <DatePicker />
            </Form.Item>
            <Button type="primary" htmlType="submit">{t("p2_check")}</Button>
          </Form>
          {answer ? (
            <Alert
              style={{ marginTop: 12 }}
              data-testid="availability"
              type={answer.can_cover ? "success" : "error"}
              message={answer.can_cover ? t("p2_can_cover") : `${t("p2_cannot_cover")}: ${answer.reason ? ledgerReason(answer.reason) : ""}`}
              description={
                <>
                  {answer.detail ? <div>{answer.detail}</div> : null}
                  <div>
                    {t("p2_remaining_quantity")} {answer.remaining_quantity} {answer.unit} · {t("p2_remaining_uses")}{" "}
                    {answer.remaining_uses} · {t("valid_until")} {answer.valid_until}
                    {answer.would_be_last_use ? ` · ${t("p2_last_use")}` : ""}
                  </div>
                </>
              }
            />
          ) : null}
        </section>
        <section aria-label={t("p2_ledger_entries")}>
          <Title level={2}>{t("p2_ledger_entries")}</Title>
          <Table<Entry>
            rowKey="entry_no"
            size="small"
            pagination={false}
            dataSource={lic.entries as unknown as Entry[]}
            columns={[
              { title: "#", dataIndex: "entry_no" },
              { title: t("p2_kind"), dataIndex: "kind", render: (k: string) => <span data-testid="ledger-kind">{ledgerKind(k)}</span> },
              { title: t("p2_declaration_no"), dataIndex: "declaration_no" },
              { title: t("quantity"), dataIndex: "quantity" },
              { title: t("p2_occurred_at"), dataIndex: "occurred_at", render: when },
              { title: t("p2_used_quantity"), dataIndex: "used_after" },
              { title: t("p2_uses"), dataIndex: "uses_after" },
              { title: t("p2_reason"), render: (_: unknown, e) => [e.reason ? ledgerReason(e.reason) : "", e.detail].filter(Boolean).join(": ") || "-" },
            ]}
          />
        </section>
      </Space>
    </>
  );
}
