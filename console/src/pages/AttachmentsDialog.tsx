// 上传附件: list, upload (PDF, JPEG, PNG or OFD, at most 1 MB; the API checks the content),
// download and delete. The API's refusal (size, type) is shown as it says it.
import { Alert, App, Button, Modal, Table, Upload } from "antd";
import { useCallback, useEffect, useState } from "react";
import { api, asError, raw, type Schemas } from "../api/client";
import { useT } from "../i18n";

type Attachment = Schemas["AttachmentView"];

export function AttachmentsDialog({ id, editable, onClose }: { id: string; editable: boolean; onClose: () => void }) {
  const t = useT();
  const { message } = App.useApp();
  const [rows, setRows] = useState<Attachment[]>([]);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async () => {
    const { data } = await api.GET("/api/v1/applications/{application_id}/attachments", { params: { path: { application_id: id } } });
    setRows(data ?? []);
  }, [id]);
  useEffect(() => {
    void load();
  }, [load]);
  const upload = async (file: File) => {
    setError(null);
    const body = new FormData();
    body.append("file", file, file.name);
    const r = await raw(`/api/v1/applications/${id}/attachments`, { method: "POST", body });
    if (!r.ok) {
      const e = asError(r.status, await r.json().catch(() => undefined));
      setError([e.message, ...e.details.map((d) => d.reason)].join("；"));
    } else {
      message.success(file.name);
      await load();
    }
  };
  const remove = async (a: Attachment) => {
    const r = await raw(`/api/v1/applications/${id}/attachments/${a.id}`, { method: "DELETE" });
    if (!r.ok) setError(asError(r.status, await r.json().catch(() => undefined)).message);
    await load();
  };
  return (
    <Modal open title={t("attachments")} width={800} onCancel={onClose} footer={<Button onClick={onClose}>{t("ok")}</Button>}>
      {error && <Alert type="error" showIcon message={error} data-testid="attachment-error" style={{ marginBottom: 12 }} />}
      <Upload
        disabled={!editable}
        showUploadList={false}
        beforeUpload={(file) => {
          void upload(file);
          return false;
        }}
      >
        <Button disabled={!editable}>{t("upload")}</Button>
      </Upload>
      <Table<Attachment>
        style={{ marginTop: 12 }}
        size="small"
        rowKey="id"
        pagination={false}
        dataSource={rows}
        columns={[
          { title: t("filename"), dataIndex: "filename", render: (v: string, a) => <a href={`/api/v1/applications/${id}/attachments/${a.id}`} download={v}>{v}</a> },
          { title: t("size"), dataIndex: "size" },
          { title: t("actions"), render: (_: unknown, a) => <Button size="small" danger disabled={!editable} onClick={() => void remove(a)}>{t("delete")}</Button> },
        ]}
      />
    </Modal>
  );
}
