import { createBrowserRouter } from "react-router-dom";
import { Shell } from "./pages/Shell";
import { Applications } from "./pages/Applications";
import { ApplicationForm } from "./pages/ApplicationForm";
import { EKeys } from "./pages/EKeys";
import { KeyAgri } from "./pages/KeyAgri";
import { NotFound } from "./pages/NotFound";
import { Precheck } from "./pages/Precheck";
// issue 19: queries and statistics, loaded when first opened (the first load stays small).
import { lazy, Suspense } from "react";
const Queries = lazy(() => import("./pages/Queries").then((m) => ({ default: m.Queries })));
const Stats = lazy(() => import("./pages/Stats").then((m) => ({ default: m.Stats })));
const later = (e: JSX.Element) => <Suspense fallback={null}>{e}</Suspense>;

export const router = createBrowserRouter([
  {
    path: "/",
    element: <Shell />,
    children: [
      { index: true, element: <Applications /> },
      { path: "applications/new", element: <Precheck /> },
      { path: "applications/:id", element: <ApplicationForm /> },
      { path: "ekeys", element: <EKeys /> },
      { path: "key-agri", element: <KeyAgri /> },
      { path: "queries", element: later(<Queries />) },
      { path: "stats", element: later(<Stats />) },
      { path: "*", element: <NotFound /> },
    ],
  },
]);
