// The monthly statistics' arithmetic, apart from the screen (tested on its own): the months of
// a year up to the one chosen, and a month's total amount over its rows.

export type Totals = { quantity: string; amount_usd: string; count: number };
export type StatsRow = { commodity_code: string; commodity_name: string; unit: string; month: Totals; year_to_date: Totals };

/** "2026-01" .. the month given, in order. */
export function monthsUpTo(month: string): string[] {
  const m = /^(\d{4})-(\d{2})$/.exec(month);
  if (!m) throw new Error(`not a month (YYYY-MM): ${month}`);
  const n = Number(m[2]);
  return Array.from({ length: n }, (_, i) => `${m[1]}-${String(i + 1).padStart(2, "0")}`);
}

/**
 * The sum of the rows' amounts this month. Amounts are decimal strings: summed in cents as
 * integers (BigInt), never as binary floats, so 0.1 + 0.2 is 0.30.
 */
export function monthAmount(rows: StatsRow[]): string {
  let cents = 0n;
  for (const r of rows) cents += toCents(r.month.amount_usd);
  const sign = cents < 0n ? "-" : "";
  const abs = cents < 0n ? -cents : cents;
  return `${sign}${abs / 100n}.${String(abs % 100n).padStart(2, "0")}`;
}

function toCents(v: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(v.trim());
  if (!m) return 0n;
  const frac = (m[3] ?? "").padEnd(2, "0");
  // Beyond cents: rounded half up (the API gives amounts to the cent; this only guards).
  let cents = BigInt(m[2]) * 100n + BigInt(frac.slice(0, 2));
  if (frac.length > 2 && Number(frac[2]) >= 5) cents += 1n;
  return m[1] ? -cents : cents;
}
