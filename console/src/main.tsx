import { App as AntApp, ConfigProvider } from "antd";
import enUS from "antd/locale/en_US";
import zhCN from "antd/locale/zh_CN";
import dayjs from "dayjs";
import "dayjs/locale/zh-cn";
import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import { RouterProvider } from "react-router-dom";
import { LangContext, type Lang } from "./i18n";
import { router } from "./routes";
import { SessionProvider } from "./session";

function Root() {
  const [lang, setLangState] = useState<Lang>((localStorage.getItem("ail.lang") as Lang) || "zh-CN");
  const setLang = (l: Lang) => {
    localStorage.setItem("ail.lang", l);
    document.documentElement.lang = l;
    dayjs.locale(l === "zh-CN" ? "zh-cn" : "en");
    setLangState(l);
  };
  return (
    <LangContext.Provider value={{ lang, setLang }}>
      <ConfigProvider locale={lang === "zh-CN" ? zhCN : enUS} theme={{
          // Darker than Ant Design's defaults: links and the menu on the blue header pass WCAG AA
          // contrast (the axe scan of every screen checks it).
          token: { colorPrimary: "#1554ad", colorLink: "#0d47a1", colorError: "#c62828", colorTextDescription: "#595959",
            // A submitted form is shown disabled and must still be read (the codes chosen).
            colorTextDisabled: "#6b6b6b",
            // Placeholders of empty fields (an empty pre-check) pass contrast too.
            colorTextPlaceholder: "#6b6b6b" },
          components: { Menu: { darkItemColor: "#ffffff", darkItemBg: "transparent", darkItemSelectedBg: "#0b3d80" },
            Select: { multipleItemColorDisabled: "#4a4a4a" } },
        }}>
        <AntApp>
          <SessionProvider>
            <RouterProvider router={router} />
          </SessionProvider>
        </AntApp>
      </ConfigProvider>
    </LangContext.Provider>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
