// Shared by the screens: the token, API calls with the error shape, and server-sent events
// read through fetch (EventSource cannot send an Authorization header, and a token in the URL
// would end up in logs).
"use strict";

const Storeterm = (() => {
  // One stored token per screen: the handheld's link opened in the till's browser must not
  // sign the till out (/pos, /tsd, /operator and /admin each keep their own).
  const SCREEN = (location.pathname.replace(/^\/+|\/+$/g, "").split("/")[0] || "pos");
  const KEY = "storeterm.token." + SCREEN;
  const REJECTED = "storeterm.rejected." + SCREEN;

  // A link like /pos#token=… (printed by `storeterm demo`) logs in and is then cleaned up.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    localStorage.setItem(KEY, fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }

  function token() { return localStorage.getItem(KEY) || ""; }
  function setToken(t) { localStorage.setItem(KEY, t.trim()); }
  function logout() { localStorage.removeItem(KEY); location.reload(); }
  // The server refused the token: forget it and say so on the login form.
  function rejected() {
    localStorage.removeItem(KEY);
    sessionStorage.setItem(REJECTED, "1");
    location.reload();
  }

  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: "Bearer " + token() } };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, "offline", "Нет связи с storeterm");
    }
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      const err = (data && data.error) || { code: "http_" + res.status, message: res.statusText };
      throw new ApiError(res.status, err.code, err.message);
    }
    return data;
  }

  // Follow an SSE stream, reconnecting after a drop. `onEvent(name, data)` gets parsed JSON;
  // `onState(connected)` reports the connection for an indicator.
  async function follow(path, onEvent, onState) {
    for (;;) {
      try {
        const res = await fetch(path, { headers: { Authorization: "Bearer " + token(), Accept: "text/event-stream" } });
        if (res.status === 401) { onState(false, "unauthorized"); return; }
        if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
        onState(true);
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let name = "message";
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith("event:")) name = line.slice(6).trim();
              else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
            }
            if (data.length === 0) continue;
            try { onEvent(name, JSON.parse(data.join("\n"))); } catch (e) { console.error(e); }
          }
        }
      } catch (e) {
        console.warn("event stream:", e);
      }
      onState(false);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  // Show the login form when there is no token (or it was refused).
  function requireLogin(form, onReady) {
    if (token()) { onReady(); return; }
    form.hidden = false;
    if (sessionStorage.getItem(REJECTED)) {
      sessionStorage.removeItem(REJECTED);
      const note = document.createElement("div");
      note.className = "message error login-error";
      note.id = "login-error";
      note.textContent = "Токен не подошёл";
      form.prepend(note);
    }
    const input = form.querySelector("input");
    input.focus();
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      setToken(input.value);
      form.hidden = true;
      onReady();
    });
  }

  // Money as people write it: "1104.6" → "1 104,60 ₽" (narrow no-break space between
  // thousands, no-break space before the sign, as `domain::money::for_people` prints it).
  function money(s) {
    if (s == null || s === "") return "";
    const text = String(s);
    if (!/^-?\d+(\.\d+)?$/.test(text)) return text;
    const negative = text.startsWith("-");
    let [int, frac = ""] = text.replace("-", "").split(".");
    frac = (frac + "00").slice(0, 2);
    int = int.replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
    return `${negative ? "-" : ""}${int},${frac}\u00a0₽`;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null) node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
    return node;
  }

  return { token, setToken, logout, rejected, api, follow, requireLogin, money, el, ApiError };
})();
