// 合同信息表 and the iron-ore contract table (heading 2601) as dialogs. The applicant block of a
// new contract comes pre-filled from the enterprise's last entry (the API's answer).
// The red star marks what the API requires at submission (the *_REQUIRED lists of
// services/application/ail_application/domain/validation.py; tests/unit/test_console_required.py
// keeps them equal); every other field may stay empty, and the API checks the format of what is given.
export const APPLICANT_REQUIRED = ["enterprise_code", "name", "uscc", "address", "contact", "phone"];
export const FOREIGN_REQUIRED = ["contract_no", "signing_date", "expiry_date", "total_quantity", "total_amount", "settlement_currency"];
export const IRON_ORE_REQUIRED = [
  "origin_country", "trade_country", "contract_no", "contract_type", "signing_date", "period_from", "period_to",
  "enterprise_nature", "seller_name_zh",
];
const REQUIRED: Record<string, string[]> = { applicant: APPLICANT_REQUIRED, foreign_contract: FOREIGN_REQUIRED, other: [] };
import { Alert, App, Button, Col, Form, Input, Modal, Row, Table, Typography } from "antd";
import { useEffect, useState } from "react";
import { api, call, isApiError, type Problem } from "../api/client";
import { CodeSelect } from "../components/CodeSelect";
import { useProblemText, useT, type Key } from "../i18n";
import { pathOf } from "./ApplicationForm";

type Props = { id: string; editable: boolean; onClose: () => void };
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Values = Record<string, any>;

function useProblems(form: ReturnType<typeof Form.useForm<Values>>[0]) {
  const [problems, setProblems] = useState<Problem[]>([]);
  const text = useProblemText();
  const report = (e: unknown, message: (s: string) => void) => {
    if (isApiError(e)) {
      setProblems(e.details);
      form.setFields(e.details.map((p) => ({ name: pathOf(p.field), errors: [text(p)] })));
      message(e.message);
    } else message(String(e));
  };
  return { problems, report };
}

function Problems({ problems }: { problems: Problem[] }) {
  const text = useProblemText();
  return problems.length ? (
    <Alert type="error" showIcon style={{ marginBottom: 12 }} message={<ul style={{ margin: 0 }}>{problems.map((p, i) => <li key={i}><code>{p.field}</code>: {text(p)}</li>)}</ul>} />
  ) : null;
}

// What the GET answer adds to the input (the PUT refuses them as extra inputs): the form holds
// the whole answer, so they are taken out before saving.
const VIEW_ONLY = ["saved", "prefilled", "version", "raw_inputs"];
function inputOf(v: Values): Values {
  return Object.fromEntries(Object.entries(v).filter(([k]) => !VIEW_ONLY.includes(k)));
}

export function ContractDialog({ id, editable, onClose }: Props) {
  const t = useT();
  const { message } = App.useApp();
  const [form] = Form.useForm<Values>();
  const { problems, report } = useProblems(form);
  const [prefilled, setPrefilled] = useState(false);
  useEffect(() => {
    api.GET("/api/v1/applications/{application_id}/contract", { params: { path: { application_id: id } } }).then(({ data }) => {
      if (data) {
        form.setFieldsValue(data as Values);
        setPrefilled(Boolean((data as { prefilled?: boolean }).prefilled));
      }
    });
  }, [form, id]);
  const save = async () => {
    const v = inputOf(form.getFieldsValue(true) as Values);
    try {
      await call(api.PUT("/api/v1/applications/{application_id}/contract", { params: { path: { application_id: id } }, body: v as never }));
      message.success(t("saved"));
      onClose();
    } catch (e) {
      report(e, message.error);
    }
  };
  const f = (group: string, name: string, labelKey: Key, node: JSX.Element = <Input />) => (
    <Col span={8}>
      <Form.Item label={t(labelKey)} name={[group, name]} required={REQUIRED[group]?.includes(name) ?? false}>
        {node}
      </Form.Item>
    </Col>
  );
  return (
    <Modal open title={t("contract")} width={1000} onCancel={onClose} footer={[<Button key="c" onClick={onClose}>{t("cancel")}</Button>, <Button key="s" type="primary" disabled={!editable} onClick={() => void save()}>{t("save")}</Button>]}>
      <Problems problems={problems} />
      <Form form={form} layout="vertical" disabled={!editable}>
        <Typography.Title level={2} style={{ fontSize: 15 }}>{t("applicant")}{prefilled ? " ✓" : ""}</Typography.Title>
        <Row gutter={12}>
          {f("applicant", "enterprise_code", "import_user_code")}
          {f("applicant", "name", "name")}
          {f("applicant", "uscc", "uscc")}
          {f("applicant", "address", "address")}
          {f("applicant", "contact", "contact")}
          {f("applicant", "phone", "phone")}
          {f("applicant", "email", "email")}
        </Row>
        <Typography.Title level={2} style={{ fontSize: 15 }}>{t("foreign_contract")}</Typography.Title>
        <Row gutter={12}>
          {f("foreign_contract", "contract_no", "contract_no")}
          {f("foreign_contract", "foreign_party_name_en", "foreign_party_name_en")}
          {f("foreign_contract", "foreign_party_name_zh", "foreign_party_name_zh")}
          {f("foreign_contract", "signing_date", "signing_date", <Input placeholder="YYYY-MM-DD" />)}
          {f("foreign_contract", "expiry_date", "expiry_date", <Input placeholder="YYYY-MM-DD" />)}
          {f("foreign_contract", "total_quantity", "total_quantity")}
          {f("foreign_contract", "total_amount", "total_amount")}
          {f("foreign_contract", "settlement_currency", "settlement_currency", <CodeSelect table="currencies" aria-label={t("settlement_currency")} />)}
        </Row>
        <Typography.Title level={2} style={{ fontSize: 15 }}>{t("other_info")}</Typography.Title>
        <Row gutter={12}>
          {f("other", "import_change_band", "import_change_band", <CodeSelect table="import_change_bands" aria-label={t("import_change_band")} />)}
        </Row>
      </Form>
    </Modal>
  );
}

export function IronOreDialog({ id, editable, onClose }: Props) {
  const t = useT();
  const { message } = App.useApp();
  const [form] = Form.useForm<Values>();
  const { problems, report } = useProblems(form);
  const [computed, setComputed] = useState<Values[]>([]);
  useEffect(() => {
    api.GET("/api/v1/applications/{application_id}/iron-ore-contract", { params: { path: { application_id: id } } }).then(({ data }) => {
      if (data) {
        form.setFieldsValue(data as Values);
        setComputed(((data as Values).lines as Values[]) ?? []);
      }
    });
  }, [form, id]);
  const save = async () => {
    const v = inputOf(form.getFieldsValue(true) as Values);
    delete v.importer_code;
    delete v.importer_name;
    v.lines = ((v.lines as Values[]) ?? []).map(({ amount_usd: _drop, ...rest }) => rest);
    try {
      await call(api.PUT("/api/v1/applications/{application_id}/iron-ore-contract", { params: { path: { application_id: id } }, body: v as never }));
      message.success(t("saved"));
      onClose();
    } catch (e) {
      report(e, message.error);
    }
  };
  const f = (name: string, labelKey: Key, node: JSX.Element = <Input />, readOnly = false) => (
    <Col span={8}>
      <Form.Item label={t(labelKey)} name={name} required={!readOnly && IRON_ORE_REQUIRED.includes(name)}>
        {readOnly ? <Input disabled /> : node}
      </Form.Item>
    </Col>
  );
  return (
    <Modal open title={t("iron_ore")} width={1100} onCancel={onClose} footer={[<Button key="c" onClick={onClose}>{t("cancel")}</Button>, <Button key="s" type="primary" disabled={!editable} onClick={() => void save()}>{t("save")}</Button>]}>
      <Problems problems={problems} />
      <Form form={form} layout="vertical" disabled={!editable}>
        <Row gutter={12}>
          {f("importer_code", "import_user_code", undefined, true)}
          {f("importer_name", "import_user_name", undefined, true)}
          {f("contract_no", "contract_no")}
          {f("contract_type", "contract_type", <CodeSelect table="contract_types" aria-label={t("contract_type")} />)}
          {f("signing_date", "signing_date", <Input placeholder="YYYY-MM-DD" />)}
          {f("period_from", "period_from", <Input placeholder="YYYY-MM-DD" />)}
          {f("period_to", "period_to", <Input placeholder="YYYY-MM-DD" />)}
          {f("enterprise_nature", "enterprise_nature", <CodeSelect table="enterprise_natures" aria-label={t("enterprise_nature")} />)}
          {f("seller_name_en", "seller_name_en")}
          {f("seller_name_zh", "seller_name_zh")}
          {f("origin_country", "origin_country", <CodeSelect table="countries" aria-label={t("origin_country")} />)}
          {f("trade_country", "trade_country", <CodeSelect table="countries" aria-label={t("trade_country")} />)}
          {f("discharge_ports", "discharge_ports", <CodeSelect table="customs_ports" multiple max={2} aria-label={t("discharge_ports")} />)}
        </Row>
        <Form.List name="lines">
          {(rows, { add, remove }) => (
            <>
              <Table
                size="small"
                pagination={false}
                rowKey="key"
                dataSource={rows}
                columns={[
                  ...(["category", "name", "grade_fe_pct", "quantity_kt", "unit_price_usd_per_kt"] as const).map((c) => ({
                    title: t(c as Key),
                    render: (_: unknown, r: { name: number }) => (
                      <Form.Item name={[r.name, c]} style={{ margin: 0 }}>
                        <Input aria-label={`${t(c as Key)} ${r.name + 1}`} />
                      </Form.Item>
                    ),
                  })),
                  { title: t("amount_usd"), render: (_: unknown, r: { name: number }) => String(computed[r.name]?.amount_usd ?? "") },
                  { title: t("actions"), render: (_: unknown, r: { name: number }) => <Button size="small" danger onClick={() => remove(r.name)}>{t("delete")}</Button> },
                ]}
              />
              <Button style={{ marginTop: 8 }} onClick={() => add({})}>{t("add_line")}</Button>
            </>
          )}
        </Form.List>
      </Form>
    </Modal>
  );
}
