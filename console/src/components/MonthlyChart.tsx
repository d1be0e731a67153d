// The monthly amounts as bars, in plain SVG (no chart library: one small picture is not worth
// a dependency). The numbers are also in the SVG's table-like description for screen readers.
export type Bar = { month: string; amount: number };

export function MonthlyChart({ bars, title }: { bars: Bar[]; title: string }) {
  const w = 720;
  const h = 220;
  const pad = { left: 90, right: 16, top: 16, bottom: 32 };
  const max = Math.max(1, ...bars.map((b) => b.amount));
  const slot = (w - pad.left - pad.right) / Math.max(1, bars.length);
  const y = (v: number) => pad.top + (h - pad.top - pad.bottom) * (1 - v / max);
  const ticks = [0, 0.5, 1].map((f) => f * max);
  const money = (v: number) => v.toLocaleString("en-US", { maximumFractionDigits: 0 });
  return (
    <svg role="img" aria-labelledby="chart-title chart-desc" viewBox={`0 0 ${w} ${h}`} style={{ width: "100%", maxWidth: w }} data-testid="monthly-chart">
      <title id="chart-title">{title}</title>
      <desc id="chart-desc">{bars.map((b) => `${b.month}: ${money(b.amount)} USD`).join("; ")}</desc>
      {ticks.map((v) => (
        <g key={v}>
          <line x1={pad.left} x2={w - pad.right} y1={y(v)} y2={y(v)} stroke="#d9d9d9" />
          <text x={pad.left - 6} y={y(v) + 4} textAnchor="end" fontSize="11" fill="#404040">
            {money(v)}
          </text>
        </g>
      ))}
      {bars.map((b, i) => (
        <g key={b.month}>
          <rect x={pad.left + i * slot + slot * 0.15} width={slot * 0.7} y={y(b.amount)} height={y(0) - y(b.amount)} fill="#1554ad">
            <title>{`${b.month}: ${money(b.amount)} USD`}</title>
          </rect>
          <text x={pad.left + i * slot + slot / 2} y={h - 12} textAnchor="middle" fontSize="11" fill="#404040">
            {b.month.slice(5)}
          </text>
        </g>
      ))}
    </svg>
  );
}
