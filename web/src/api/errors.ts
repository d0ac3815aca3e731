// Turns the API's error envelope {"error": {code, message, details, status_code}} into something
// a page can show: one sentence, and the message for each field the API named.

export interface FieldError {
  field: string;
  message: string;
}

export class ApiProblem extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldError[];
  readonly retryAfter: number | null;

  constructor(status: number, code: string, message: string, fields: FieldError[] = [], retryAfter: number | null = null) {
    super(message);
    this.name = "ApiProblem";
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }

  /** The message the API gave for one field, if it named it. */
  fieldMessage(field: string): string | undefined {
    return this.fields.find((f) => f.field === field || f.field.endsWith(`.${field}`))?.message;
  }
}

const FALLBACK: Record<number, string> = {
  400: "The request was refused.",
  401: "Your session has ended. Sign in again.",
  403: "You do not have permission to do this.",
  404: "Not found, or you do not have access to it.",
  409: "This conflicts with the current state. Reload and try again.",
  413: "The request is too large.",
  422: "Some fields are not valid.",
  429: "Too many requests. Wait a moment and try again.",
  503: "The service is unavailable right now. Try again later.",
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function fieldsOf(details: unknown): FieldError[] {
  if (!Array.isArray(details)) return [];
  return details.flatMap((d) =>
    isRecord(d) && typeof d.field === "string" && typeof d.message === "string"
      ? [{ field: d.field, message: d.message }]
      : [],
  );
}

/** Builds an ApiProblem from a parsed body (the envelope, or anything else) and the response. */
export function toProblem(body: unknown, response: Pick<Response, "status" | "headers">): ApiProblem {
  const status = response.status;
  const retry = Number(response.headers.get("retry-after"));
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null;
  const env = isRecord(body) && isRecord(body.error) ? body.error : null;
  const code = env && typeof env.code === "string" ? env.code : `http_${status}`;
  let message =
    env && typeof env.message === "string" && env.message.length > 0
      ? env.message
      : (FALLBACK[status] ?? `The request failed (HTTP ${status}).`);
  if (status === 429 && retryAfter !== null && !/second/.test(message)) {
    message = `${message} Try again in ${retryAfter} seconds.`;
  }
  return new ApiProblem(status, code, message, env ? fieldsOf(env.details) : [], retryAfter);
}

/** A failed network call (no answer at all) in the same shape. */
export function networkProblem(err: unknown): ApiProblem {
  const detail = err instanceof Error ? err.message : String(err);
  return new ApiProblem(0, "network", `The server could not be reached (${detail}).`);
}

/** A message for anything a query or mutation threw. */
export function describeError(err: unknown): string {
  if (err instanceof ApiProblem) return err.message;
  if (err instanceof Error) return err.message;
  return "Something went wrong.";
}

/**
 * openapi-fetch answers {data, error, response}; this returns data or throws an ApiProblem, so
 * TanStack Query sees failures as errors.
 */
export async function unwrap<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await call;
  } catch (err) {
    throw networkProblem(err);
  }
  if (!result.response.ok || result.error !== undefined) {
    throw toProblem(result.error, result.response);
  }
  return result.data as T;
}
