import { createBrowserRouter } from "react-router-dom";
import { Shell } from "./pages/Shell";
import { Applications } from "./pages/Applications";
import { ApplicationForm } from "./pages/ApplicationForm";
import { EKeys } from "./pages/EKeys";
import { KeyAgri } from "./pages/KeyAgri";
import { NotFound } from "./pages/NotFound";
import { Precheck } from "./pages/Precheck";
// issue 19: customs, push, operations
import { Clearances } from "./pages/part2/Clearances";
import { CustomsStatus } from "./pages/part2/CustomsStatus";
import { LicenseDetail } from "./pages/part2/LicenseDetail";
import { LicenseHistory } from "./pages/part2/LicenseHistory";
import { OpsDeadLetters, OpsDeliveries, OpsSubmissions, OpsTimeInStatus } from "./pages/part2/Ops";
import { Push } from "./pages/part2/Push";

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
      // issue 19: customs, push, operations
      { path: "customs/status", element: <CustomsStatus /> },
      { path: "customs/licenses/:no", element: <LicenseDetail /> },
      { path: "customs/clearances", element: <Clearances /> },
      { path: "customs/history", element: <LicenseHistory /> },
      { path: "push", element: <Push /> },
      { path: "ops/time-in-status", element: <OpsTimeInStatus /> },
      { path: "ops/submissions", element: <OpsSubmissions /> },
      { path: "ops/customs-deliveries", element: <OpsDeliveries /> },
      { path: "ops/dead-letters", element: <OpsDeadLetters /> },
      { path: "*", element: <NotFound /> },
    ],
  },
]);
