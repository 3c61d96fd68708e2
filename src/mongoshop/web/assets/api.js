// The JSON API, as this page calls it: same origin, a bearer token from sessionStorage.
// The token is never put in a cookie (so no request can carry it without this code)
// and is forgotten when the tab closes.

const TOKEN_KEY = "mongoshop.admin.token";

export class ApiError extends Error {
  constructor(status, code, detail, token = null) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.token = token; // the token the request carried, if any
  }
}

export function storedToken() {
  return window.sessionStorage.getItem(TOKEN_KEY);
}

export function storeToken(token) {
  window.sessionStorage.setItem(TOKEN_KEY, token);
}

// Forget the stored token; with `token`, only if it is still that one (a late 401
// for a request sent with an older token must not sign out a newer session).
export function forgetToken(token = undefined) {
  if (token === undefined || storedToken() === token) {
    window.sessionStorage.removeItem(TOKEN_KEY);
  }
}

// A request to the API; the parsed JSON answer, or an ApiError with the API's
// {"error", "detail"} body (status 0 when the server could not be reached).
export async function call(method, path, { params, body, signedIn = true } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params ?? {})) {
    url.searchParams.set(name, String(value));
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  const token = signedIn ? storedToken() : null;
  if (signedIn) {
    headers.Authorization = `Bearer ${token ?? ""}`;
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
    });
  } catch {
    throw new ApiError(0, "unreachable", "The server could not be reached.", token);
  }
  let payload = null;
  if (response.status !== 204) {
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
  }
  if (!response.ok) {
    const code = typeof payload?.error === "string" ? payload.error : "error";
    const detail =
      typeof payload?.detail === "string" ? payload.detail : `HTTP ${response.status}`;
    throw new ApiError(response.status, code, detail, token);
  }
  return payload;
}
