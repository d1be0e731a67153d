// A batch action over the selected rows, a few at a time: each chunk is one request, so the
// screen can show how far it got, and a chunk that fails (network, 5xx, 4xx) marks only its own
// rows refused with the reason; the ids sent are exactly the ids given (never any other row).

export type RowResult = { id: string; ok: boolean; reason?: string | null };
export type Progress = { done: number; total: number };

export function chunks<T>(items: readonly T[], size: number): T[][] {
  if (size < 1) throw new Error("chunk size must be at least 1");
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Runs `send` over `ids` in chunks of `size`, in order, and returns one result per id, in the
 * order given. An id the answer does not mention is refused ("no answer"): nothing is assumed
 * done that the API did not say is done.
 */
export async function runBatch(
  ids: readonly string[],
  size: number,
  send: (chunk: string[]) => Promise<RowResult[]>,
  onProgress?: (p: Progress) => void,
): Promise<RowResult[]> {
  const unique = [...new Set(ids)];
  const results = new Map<string, RowResult>();
  let done = 0;
  onProgress?.({ done, total: unique.length });
  for (const chunk of chunks(unique, size)) {
    let answered: RowResult[];
    try {
      answered = await send(chunk);
    } catch (e) {
      const reason = errorText(e);
      answered = chunk.map((id) => ({ id, ok: false, reason }));
    }
    const byId = new Map(answered.map((r) => [r.id, r]));
    for (const id of chunk) results.set(id, byId.get(id) ?? { id, ok: false, reason: "no answer" });
    done += chunk.length;
    onProgress?.({ done, total: unique.length });
  }
  return unique.map((id) => results.get(id)!);
}

function errorText(e: unknown): string {
  if (typeof e === "object" && e !== null && "message" in e) return String((e as { message: unknown }).message);
  return String(e);
}

/** The batch-delete answer as row results: only `deleted` is done. */
export function fromDelete(results: { id: string; outcome: string; reason?: string | null }[]): RowResult[] {
  return results.map((r) => ({ id: r.id, ok: r.outcome === "deleted", reason: r.outcome === "deleted" ? null : (r.reason ?? r.outcome) }));
}

/** The batch-submit answer as row results: the refusal's message and the fields it names. */
export function fromSubmit(
  results: { id: string; result: string; error?: { message?: string; details?: { field: string; reason: string }[] } | null }[],
): RowResult[] {
  return results.map((r) => {
    if (r.result === "submitted") return { id: r.id, ok: true, reason: null };
    const details = (r.error?.details ?? []).map((d) => `${d.field}: ${d.reason}`);
    return { id: r.id, ok: false, reason: [r.error?.message ?? "refused", ...details].join("; ") };
  });
}
