// The REST API client of the dashboard: every request goes to /api/v1 with the token kept in
// localStorage; a 401 opens a small prompt for it and the request is tried again.

const TOKEN_KEY = "primer-search.api-token";

export class ApiError extends Error {
  constructor(status, detail) {
    super(`${status}: ${detail}`);
    this.status = status;
    this.detail = detail;
  }
}

let prompting = null; // one prompt for all the requests that got a 401 at once

// A GET the page started before its modules loaded (window.primerPrefetch, see pages.py),
// taken over once.
function prefetched(path) {
  const early = window.primerPrefetch?.[path];
  if (early) delete window.primerPrefetch[path];
  return early;
}

export async function api(path, { method = "GET", body } = {}) {
  let early = method === "GET" ? prefetched(path) : undefined;
  for (;;) {
    const token = localStorage.getItem(TOKEN_KEY);
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await (early || fetch(`/api/v1${path}`, init));
    early = undefined;
    if (response.status === 401) {
      await askForToken(token !== null);
      continue;
    }
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) throw new ApiError(response.status, describe(data));
    return data;
  }
}

// FastAPI's 422 lists the bad fields; the project's own errors are one sentence.
function describe(data) {
  const detail = data && typeof data === "object" ? data.detail : data;
  if (Array.isArray(detail)) {
    return detail
      .map((e) => `${(e.loc || []).filter((p) => p !== "body").join(".")}: ${e.msg}`)
      .join("\n");
  }
  return String(detail ?? "request failed");
}

export function fieldErrors(error) {
  return error instanceof ApiError ? error.detail.split("\n") : [String(error.message || error)];
}

function askForToken(wasWrong) {
  if (!prompting) {
    prompting = new Promise((resolve) => {
      const dialog = document.createElement("dialog");
      dialog.id = "token-dialog";
      dialog.className = "token-dialog";
      dialog.innerHTML = `
        <form method="dialog">
          <h2>API token</h2>
          <p>This server asks for a bearer token (PRIMER_SEARCH_API_TOKEN).
             It is kept in this browser only.</p>
          <p class="error-text" hidden>That token was refused.</p>
          <input id="token-input" type="password" autocomplete="off" required>
          <button class="btn primary" id="token-save" value="save">Use token</button>
        </form>`;
      dialog.querySelector(".error-text").hidden = !wasWrong;
      dialog.addEventListener("cancel", (event) => event.preventDefault());
      dialog.querySelector("form").addEventListener("submit", () => {
        localStorage.setItem(TOKEN_KEY, dialog.querySelector("#token-input").value.trim());
        dialog.remove();
        prompting = null;
        resolve();
      });
      document.body.append(dialog);
      dialog.showModal();
    });
  }
  return prompting;
}

// Every page sets this when its first render is done (the tests and the benchmark wait for it).
export function markReady(state = "ok") {
  document.body.dataset.state = state;
  document.body.dataset.readyMs = String(Math.round(performance.now())); // since navigation start
  document.body.dataset.ready = "1";
}

export function showPageError(error) {
  const box = document.getElementById("page-error");
  box.textContent =
    error instanceof ApiError && error.status === 404
      ? error.detail
      : `Could not load this page: ${error.message || error}`;
  box.hidden = false;
}
