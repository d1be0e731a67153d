// The menu entries of issue 19's screens, for Shell: the customs and push screens for enterprise
// and agency accounts; for operations accounts the operations pages only (they act for no
// enterprise, so the enterprise screens would only answer errors).
import type { MenuProps } from "antd";
import { Link } from "react-router-dom";
import type { Key } from "../../i18n";

type Items = NonNullable<MenuProps["items"]>;

const CUSTOMS: [string, Key][] = [
  ["/customs/status", "menu_customs_status"],
  ["/customs/clearances", "menu_clearances"],
  ["/customs/history", "menu_history"],
  ["/push", "menu_push"],
];
const OPS: [string, Key][] = [
  ["/ops/time-in-status", "menu_ops_time"],
  ["/ops/submissions", "menu_ops_submissions"],
  ["/ops/customs-deliveries", "menu_ops_deliveries"],
  ["/ops/dead-letters", "menu_ops_dead_letters"],
];

export function part2Menu(
  pathname: string,
  operations: boolean,
  t: (k: Key) => string,
): { items: Items; only: Items | null; selected: string | null } {
  const link = ([to, key]: [string, Key]) => ({ key: to, label: <Link to={to}>{t(key)}</Link> });
  const all = [...CUSTOMS, ...OPS];
  const hit = all.find(([to]) => pathname.startsWith(to))?.[0] ?? (pathname.startsWith("/customs/") ? "/customs/status" : null);
  if (operations) return { items: [], only: OPS.map(link), selected: hit };
  // One submenu: the horizontal menu has room for few entries before it folds them away.
  return { items: [{ key: "customs", label: t("menu_customs"), children: CUSTOMS.map(link) }], only: null, selected: hit };
}
