// A code-table field as the manual describes it: type a code, pinyin initials or Chinese, and
// Enter picks the first match. Options come from GET /api/v1/reference/{table}.
import { Select } from "antd";
import { useEffect, useState } from "react";
import { api } from "../api/client";
import { useT } from "../i18n";

export type CodeRow = { code: string; name_zh: string; letters?: string };

const cache = new Map<string, Promise<CodeRow[]>>();

export function loadTable(table: string, q = ""): Promise<CodeRow[]> {
  const key = `${table}?${q}`;
  if (!cache.has(key)) {
    cache.set(
      key,
      loadPages(table, q),
    );
  }
  return cache.get(key)!;
}

// A code table is a page like every list (page, page_size, total): read them all, 200 at a time.
async function loadPages(table: string, q: string): Promise<CodeRow[]> {
  const rows: CodeRow[] = [];
  for (let page = 1; ; page++) {
    const { data } = await api.GET("/api/v1/reference/{table}", {
      params: { path: { table }, query: { q, page, page_size: 200 } },
    });
    if (!data) return rows;
    rows.push(...(data.items as unknown as CodeRow[]));
    if (rows.length >= data.total || data.items.length === 0) return rows;
  }
}

export function matches(row: CodeRow, input: string): boolean {
  const q = input.trim().toLowerCase();
  if (!q) return true;
  return (
    row.code.toLowerCase().startsWith(q) ||
    (row.letters ?? "").toLowerCase().startsWith(q) ||
    row.name_zh.includes(input.trim())
  );
}

type Props = {
  table: string;
  value?: string | string[] | null;
  onChange?: (v: string | string[] | null) => void;
  multiple?: boolean;
  max?: number;
  disabled?: boolean;
  id?: string;
  "aria-label"?: string;
  /** Search on the server as the user types (the commodity catalogue is large). */
  remote?: boolean;
};

export function CodeSelect({ table, value, onChange, multiple, max, disabled, id, remote, ...rest }: Props) {
  const t = useT();
  const [rows, setRows] = useState<CodeRow[]>([]);
  const [q, setQ] = useState("");
  useEffect(() => {
    let live = true;
    loadTable(table, remote ? q : "").then((r) => live && setRows(r));
    return () => {
      live = false;
    };
  }, [table, remote, q]);
  const values = multiple ? ((value as string[] | null) ?? []) : value ? [value as string] : [];
  // A saved code the table does not list (or not yet loaded) still shows as itself.
  const known = new Set(rows.map((r) => r.code));
  const options = [
    ...values.filter((v) => !known.has(v)).map((v) => ({ value: v, label: v, row: { code: v, name_zh: v } })),
    ...rows.map((r) => ({ value: r.code, label: `${r.code} ${r.name_zh}`, row: r })),
  ];
  return (
    <Select
      id={id}
      aria-label={rest["aria-label"]}
      showSearch
      allowClear
      disabled={disabled}
      mode={multiple ? "multiple" : undefined}
      maxCount={max}
      placeholder={t("select_placeholder")}
      value={multiple ? values : (value ?? undefined)}
      onChange={(v) => onChange?.(v ?? null)}
      onSearch={remote ? setQ : undefined}
      filterOption={(input, option) => (option ? matches(option.row, input) : false)}
      options={options}
      defaultActiveFirstOption
      style={{ width: "100%" }}
    />
  );
}
