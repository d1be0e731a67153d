import { createBrowserRouter } from "react-router-dom";
import { Shell } from "./pages/Shell";
import { Applications } from "./pages/Applications";
import { ApplicationForm } from "./pages/ApplicationForm";
import { EKeys } from "./pages/EKeys";
import { KeyAgri } from "./pages/KeyAgri";
import { NotFound } from "./pages/NotFound";
import { Precheck } from "./pages/Precheck";
// issue 19: queries and statistics, loaded when first opened (the first load stays small).
import { lazy, Suspense, type ComponentType } from "react";
const Queries = lazy(() => import("./pages/Queries").then((m) => ({ default: m.Queries })));
const Stats = lazy(() => import("./pages/Stats").then((m) => ({ default: m.Stats })));
const later = (e: JSX.Element) => <Suspense fallback={null}>{e}</Suspense>;
// issue 19: customs, push, operations, loaded when first opened too.
const part2 = <K extends string>(load: () => Promise<Record<K, ComponentType>>, name: K) =>
  lazy(() => load().then((m) => ({ default: m[name] })));
const CustomsStatus = part2(() => import("./pages/part2/CustomsStatus"), "CustomsStatus");
const LicenseDetail = part2(() => import("./pages/part2/LicenseDetail"), "LicenseDetail");
const Clearances = part2(() => import("./pages/part2/Clearances"), "Clearances");
const LicenseHistory = part2(() => import("./pages/part2/LicenseHistory"), "LicenseHistory");
const Push = part2(() => import("./pages/part2/Push"), "Push");
const OpsTimeInStatus = part2(() => import("./pages/part2/Ops"), "OpsTimeInStatus");
const OpsSubmissions = part2(() => import("./pages/part2/Ops"), "OpsSubmissions");
const OpsDeliveries = part2(() => import("./pages/part2/Ops"), "OpsDeliveries");
const OpsDeadLetters = part2(() => import("./pages/part2/Ops"), "OpsDeadLetters");

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
      // issue 19: customs, push, operations
      { path: "customs/status", element: later(<CustomsStatus />) },
      { path: "customs/licenses/:no", element: later(<LicenseDetail />) },
      { path: "customs/clearances", element: later(<Clearances />) },
      { path: "customs/history", element: later(<LicenseHistory />) },
      { path: "push", element: later(<Push />) },
      { path: "ops/time-in-status", element: later(<OpsTimeInStatus />) },
      { path: "ops/submissions", element: later(<OpsSubmissions />) },
      { path: "ops/customs-deliveries", element: later(<OpsDeliveries />) },
      { path: "ops/dead-letters", element: later(<OpsDeadLetters />) },
      { path: "*", element: <NotFound /> },
    ],
  },
]);
