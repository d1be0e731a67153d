import { Button, Result } from "antd";
import { Link } from "react-router-dom";
import { useT } from "../i18n";

export function NotFound() {
  const t = useT();
  return (
    <Result
      status="404"
      title="404"
      subTitle={<span data-testid="not-found">{t("not_found")}</span>}
      extra={
        <Link to="/">
          <Button type="primary">{t("back_home")}</Button>
        </Link>
      }
    />
  );
}
