// The cashier's printer panel: what the printer says (paper out, cover open, …) in words, how
// many receipts wait for it, and every receipt whose fate is unknown with the two answers —
// print a copy (marked КОПИЯ) or "it did come out". Polls, so it keeps working while the
// event stream reconnects.
"use strict";

(() => {
  const S = Storeterm;
  const $ = (id) => document.getElementById(id);
  const panel = $("printer");
  if (!panel) return;
  const lane = () => $("lane").value || new URLSearchParams(location.search).get("lane") || "";
  const base = () => `/api/v1/lanes/${encodeURIComponent(lane())}/printer`;
  const STATES = { unknown: "неизвестно, вышел ли чек", failed: "не напечатан" };

  async function decide(job, action) {
    try {
      await S.api("POST", `/api/v1/print-jobs/${job.id}/${action}`, {});
    } catch (e) {
      $("printer-status").textContent = e.message;
    }
    refresh();
  }

  function render(v) {
    if (!v.printer) { panel.hidden = true; return; }
    panel.hidden = false;
    const status = $("printer-status");
    status.textContent = "Принтер: " + (v.status || (v.state === "disconnected" ? "нет связи" : "—"));
    const bad = v.state !== "connected" || /нет бумаги|крышка|ошибка|неисправн|не в сети/.test(v.status || "");
    status.className = "printer-status " + (bad ? "bad" : "ok");
    $("printer-queued").textContent = v.queued.length ? `Ждут печати: ${v.queued.length}` : "";
    $("printer-decisions").replaceChildren(...v.decisions.map((job) => S.el("li", { "data-job": job.id },
      S.el("span", {}, `Чек ${job.receipt.slice(0, 8)}: ${STATES[job.state] || job.state}. Перепечатать?`),
      S.el("button", { type: "button", class: "reprint", onclick: () => decide(job, "reprint") }, "Печатать копию"),
      S.el("button", { type: "button", class: "quiet confirm", onclick: () => decide(job, "confirm") }, "Чек вышел"))));
  }

  async function refresh() {
    if (!lane()) return;
    try { render(await S.api("GET", base())); } catch (_) { /* the link badge already says so */ }
  }

  refresh();
  setInterval(refresh, 2000);
})();
