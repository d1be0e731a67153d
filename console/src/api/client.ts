// The one way the console talks to the platform: the public API at /api/v1 through the entry
// point, typed by the generated schema (schema.d.ts, from the public OpenAPI document).
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Application = Schemas["ApplicationView"];
export type Problem = { field: string; reason: string; code?: string | null };
export type ApiError = { status: number; code: string; message: string; details: Problem[] };

export const CSRF_COOKIE = "ail_csrf";
export const CSRF_HEADER = "X-CSRF-Token";

export function csrfToken(): string | undefined {
  const m = document.cookie.split("; ").find((c) => c.startsWith(`${CSRF_COOKIE}=`));
  return m ? decodeURIComponent(m.slice(CSRF_COOKIE.length + 1)) : undefined;
}

// Cookie-authenticated writes carry the session's CSRF token (double submit).
const csrf: Middleware = {
  onRequest({ request }) {
    if (!["GET", "HEAD", "OPTIONS"].includes(request.method)) {
      const token = csrfToken();
      if (token) request.headers.set(CSRF_HEADER, token);
    }
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: "", credentials: "same-origin" });
api.use(csrf);

/** The error body of the API as one value (network failures included). */
export function asError(status: number, body: unknown): ApiError {
  const e = (body as { error?: Partial<ApiError> } | undefined)?.error;
  return {
    status,
    code: e?.code ?? "error",
    message: e?.message ?? `HTTP ${status}`,
    details: (e?.details as Problem[] | undefined) ?? [],
  };
}

/** Unwraps an openapi-fetch result: the data, or throws the API's error. */
export async function call<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await p;
  if (!response.ok) throw asError(response.status, error);
  return data as T;
}

/** Raw fetch for what the typed client does not cover (uploads, PDFs), with the CSRF header. */
export async function raw(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.method && init.method !== "GET") {
    const token = csrfToken();
    if (token) headers.set(CSRF_HEADER, token);
  }
  return fetch(path, { ...init, headers, credentials: "same-origin" });
}

export function isApiError(e: unknown): e is ApiError {
  return typeof e === "object" && e !== null && "status" in e && "details" in e;
}
