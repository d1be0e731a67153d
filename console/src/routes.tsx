import { createBrowserRouter } from "react-router-dom";
import { Shell } from "./pages/Shell";
import { Applications } from "./pages/Applications";
import { ApplicationForm } from "./pages/ApplicationForm";
import { EKeys } from "./pages/EKeys";
import { KeyAgri } from "./pages/KeyAgri";
import { NotFound } from "./pages/NotFound";
import { Precheck } from "./pages/Precheck";

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
      { path: "*", element: <NotFound /> },
    ],
  },
]);
