// Pure helpers of the customs, push and operations screens (issue 19): no React, no fetch, so
// Vitest checks them directly.

/** Customs statuses (docs/customs.md) and the colour of their tag: dark enough for white text
 * (the axe scan checks contrast); null is "not sent yet". */
export const CUSTOMS_TONE: Record<string, string> = {
  not_arrived: "#5c5c5c",
  stored: "#1b5e20",
  store_failed: "#b71c1c",
  send_failed: "#8a4b00",
};

export function customsTone(status: string | null | undefined): string | undefined {
  return status ? CUSTOMS_TONE[status] : undefined;
}

const EN_UNITS = { s: "s", min: "min", h: "h", d: "d" };

/** Seconds as people read them: 42 s, 3 min 5 s, 2 h 10 min, 3 d 4 h; null/undefined: "-".
 * ``u``: the units in the screen's language (``durationUnits`` in i18n.tsx: 42 秒, 3 分 5 秒). */
export function formatSeconds(s: number | null | undefined, u: { s: string; min: string; h: string; d: string } = EN_UNITS): string {
  if (s === null || s === undefined || Number.isNaN(s)) return "-";
  if (s < 60) return `${Math.round(s * 10) / 10} ${u.s}`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} ${u.min} ${Math.round(s - m * 60)} ${u.s}`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} ${u.h} ${m - h * 60} ${u.min}`;
  const d = Math.floor(h / 24);
  return `${d} ${u.d} ${h - d * 24} ${u.h}`;
}

/** A dead letter's reason in its parts: the code (the ``dlt-reason`` text up to its first ':'
 * and first word, as ail_shared.metrics.dead_letter_reason reads it), the attempts of
 * ``handler_failed after n attempts``, and the rest (the error as the consumer wrote it). */
export function letterReason(reason: string): { code: string; attempts?: number; detail: string } {
  const colon = reason.indexOf(":");
  const head = (colon < 0 ? reason : reason.slice(0, colon)).trim();
  const detail = colon < 0 ? "" : reason.slice(colon + 1).trim();
  const code = head.split(" ", 1)[0] ?? "";
  const attempts = /^\S+ after (\d+) attempts?$/.exec(head);
  return { code, detail, ...(attempts ? { attempts: Number(attempts[1]) } : {}) };
}

/** Whether a percentile is over the objective (the screen marks it). */
export function overObjective(value: number | null | undefined, objectiveSeconds: number | null | undefined): boolean {
  return value !== null && value !== undefined && !!objectiveSeconds && value > objectiveSeconds;
}

/** The share within the objective as a percentage with one decimal, or "-" when nothing decided. */
export function formatShare(share: number | null | undefined): string {
  return share === null || share === undefined ? "-" : `${(Math.round(share * 1000) / 10).toFixed(1)} %`;
}

/** A recorded reason for an operations action: the API wants 3..1000 characters (trimmed here). */
export function reasonProblem(reason: string): "too_short" | "too_long" | null {
  const r = reason.trim();
  if (r.length < 3) return "too_short";
  if (r.length > 1000) return "too_long";
  return null;
}

/** The application ids typed for a subscription: split on commas, spaces or new lines, each once. */
export function parseIds(text: string): string[] {
  return [...new Set(text.split(/[\s,，;；]+/).map((s) => s.trim()).filter(Boolean))];
}

export type FeedItem = { id: string; type: string; data: Record<string, unknown>; at: number };

/** The live feed keeps the newest first, each change once (a reconnect with Last-Event-ID may
 * still repeat the last one), at most `max` of them. */
export function addToFeed(feed: FeedItem[], item: FeedItem, max = 50): FeedItem[] {
  if (item.id && feed.some((f) => f.id === item.id)) return feed;
  return [item, ...feed].slice(0, max);
}

/** Which deliveries may be redelivered: a failed or delivered one (docs/status.md). */
export function canRedeliver(state: string): boolean {
  return state === "failed" || state === "delivered";
}

/** `application.` + the event type in snake case (docs/status.md): the webhook and stream event
 * type of a change. The types themselves: `WEBHOOK_TYPES` (i18n.tsx, typed by the API schema). */
export function snakeType(eventType: string): string {
  return "application." + eventType.replace(/(?<!^)(?=[A-Z])/g, "_").toLowerCase();
}

/** A China date (YYYY-MM-DD) or undefined for an empty field: what the query parameters want. */
export function dateParam(v: { format: (f: string) => string } | null | undefined): string | undefined {
  return v ? v.format("YYYY-MM-DD") : undefined;
}

/** What a live-feed line is about. A change that sets a status: that status. A fact that sets
 * none (Customs storing the license, a declaration, the license's own events) is about what it
 * records, not about the application's status, which it leaves as it was (docs/status.md). */
export type FeedSubject =
  | { kind: "status" | "customs" | "license_state"; value: string }
  | { kind: "declaration"; value: string; quantity?: string }
  | { kind: "none" };

export function feedSubject(data: Record<string, unknown>): FeedSubject {
  const details = (data.details ?? {}) as Record<string, unknown>;
  if (typeof data.status === "string" && data.status) return { kind: "status", value: data.status };
  if (typeof data.customs_status === "string" && data.customs_status) return { kind: "customs", value: data.customs_status };
  if (typeof details.license_state === "string" && details.license_state) return { kind: "license_state", value: details.license_state };
  if (typeof details.declaration_no === "string" && details.declaration_no) {
    return { kind: "declaration", value: details.declaration_no, ...(details.quantity ? { quantity: String(details.quantity) } : {}) };
  }
  return { kind: "none" };
}
