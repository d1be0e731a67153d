// The frame of every screen: menu, the agency's enterprise switcher, language, sign-out.
import { Button, ConfigProvider, Layout, Menu, Select, Space, Spin, Typography } from "antd";
import { Link, Navigate, Outlet, useLocation } from "react-router-dom";
import { LangContext, useT } from "../i18n";
import { useSession } from "../session";
import { SignIn } from "./SignIn";
import { useContext } from "react";
import { part2Menu } from "./part2/menu";
import "./Shell.css";

export function Shell() {
  const t = useT();
  const { lang, setLang } = useContext(LangContext);
  const { session, signOut, switchTo } = useSession();
  const loc = useLocation();
  if (session === undefined) return <Spin style={{ margin: 96 }} />;
  if (session === null) return <SignIn />;
  // issue 19: customs, push, operations (their own menu entries; the operations menu only for
  // operations accounts, which have no enterprise screens).
  const part2 = part2Menu(loc.pathname, session.kind === "operations", t);
  if (session.kind === "operations" && loc.pathname === "/") return <Navigate to="/ops/time-in-status" replace />;
  // issue 19: the query and statistics screens have their own menu entries.
  const selected =
    part2.selected ??
    ["queries", "stats"].find((k) => loc.pathname.startsWith(`/${k}`)) ??
    (loc.pathname.startsWith("/ekeys") ? "ekeys" : loc.pathname.startsWith("/key-agri") ? "key-agri" : "apps");
  return (
    <Layout style={{ minHeight: "100vh" }}>
      <Layout.Header style={{ display: "flex", alignItems: "center", gap: 16, padding: "0 24px", background: "#1554ad", height: "auto", minHeight: 64 }}>
        <Typography.Text strong style={{ color: "#fff", fontSize: 16, whiteSpace: "nowrap" }}>
          {t("app_title")}
        </Typography.Text>
        <nav aria-label="menu" style={{ flex: 1, minWidth: 0 }}>
          {/* Narrower entries than Ant Design's 16 px a side: the English menu fits in one row at
              1400 px with every entry shown, the agency's switcher beside it. */}
          <ConfigProvider theme={{ components: { Menu: { itemPaddingInline: 12 } } }}>
            <Menu
              mode="horizontal"
              theme="dark"
              selectedKeys={[selected]}
              // One row at any width (session 8: the English menu wrapped to two rows at 1400 px):
              // the entries that do not fit fold into "more" (Ant Design's overflow). Its folded
              // entries stay in the page aria-hidden, and hidden from focus too (Shell.css).
              className="ail-menu"
              overflowedIndicator={<span data-testid="menu-more">{t("menu_more")} <span aria-hidden="true">▾</span></span>}
              style={{ background: "transparent", minWidth: 0 }}
              items={part2.only ?? [
                { key: "apps", label: <Link to="/">{t("menu_applications")}</Link> },
                { key: "ekeys", label: <Link to="/ekeys">{t("menu_ekeys")}</Link> },
                { key: "key-agri", label: <Link to="/key-agri">{t("menu_key_agri")}</Link> },
                { key: "queries", label: <Link to="/queries">{t("menu_queries")}</Link> },
                { key: "stats", label: <Link to="/stats">{t("menu_stats")}</Link> },
                ...part2.items,
              ]}
            />
          </ConfigProvider>
        </nav>
        <Space>
          {session.kind === "agency" ? (
            <Select
              aria-label={t("acting_for")}
              data-testid="enterprise-switcher"
              style={{ width: 220 }}
              value={session.acting_enterprise ?? undefined}
              options={session.enterprises.map((e) => ({ value: e.code, label: `${e.name} (${e.code})` }))}
              onChange={(code: string) => void switchTo(code).then(() => window.location.assign("/"))}
            />
          ) : (
            <Typography.Text style={{ color: "#fff" }} data-testid="acting-enterprise">
              {session.enterprises.find((e) => e.code === session.acting_enterprise)?.name ?? session.display_name}
            </Typography.Text>
          )}
          <Button size="small" onClick={() => setLang(lang === "zh-CN" ? "en" : "zh-CN")}>
            {t("language")}
          </Button>
          <Button size="small" onClick={() => void signOut()}>
            {t("sign_out")}
          </Button>
        </Space>
      </Layout.Header>
      <Layout.Content style={{ padding: 24 }}>
        <main>
          <Outlet />
        </main>
      </Layout.Content>
    </Layout>
  );
}
