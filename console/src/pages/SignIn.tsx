import { Alert, Button, Card, Form, Input, Typography } from "antd";
import { useState } from "react";
import { isApiError } from "../api/client";
import { useT } from "../i18n";
import { useSession } from "../session";

export function SignIn() {
  const t = useT();
  const { signIn } = useSession();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const onFinish = async (v: { username: string; password: string }) => {
    setBusy(true);
    setError(null);
    try {
      await signIn(v.username, v.password);
    } catch (e) {
      setError(isApiError(e) ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main style={{ display: "flex", justifyContent: "center", paddingTop: 96 }}>
      <Card style={{ width: 380 }}>
        <Typography.Title level={1} style={{ fontSize: 22 }}>
          {t("app_title")}
        </Typography.Title>
        {error && <Alert type="error" showIcon message={t("sign_in_failed")} description={error} style={{ marginBottom: 16 }} />}
        <Form layout="vertical" onFinish={onFinish} requiredMark>
          <Form.Item label={t("username")} name="username" rules={[{ required: true, message: t("required") }]}>
            <Input autoComplete="username" />
          </Form.Item>
          <Form.Item label={t("password")} name="password" rules={[{ required: true, message: t("required") }]}>
            <Input.Password autoComplete="current-password" />
          </Form.Item>
          <Button type="primary" htmlType="submit" block loading={busy}>
            {t("sign_in")}
          </Button>
        </Form>
      </Card>
    </main>
  );
}
