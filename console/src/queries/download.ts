// Exports are made by the API (every matching row, not only the page shown: one home for the
// columns); the console only asks with the right Accept and saves the answer as a file.
import { asError, raw } from "../api/client";

export const XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/** The query string of the filters set (empty ones left out: the API refuses no parameter twice). */
export function queryString(filters: Record<string, string | number | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(filters)) if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  return q.toString();
}

export async function download(path: string, filters: Record<string, string | number | null | undefined>, accept: string, filename: string): Promise<void> {
  const qs = queryString(filters);
  const resp = await raw(qs ? `${path}?${qs}` : path, { headers: { Accept: accept } });
  if (!resp.ok) throw asError(resp.status, await resp.json().catch(() => undefined));
  const url = URL.createObjectURL(await resp.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
