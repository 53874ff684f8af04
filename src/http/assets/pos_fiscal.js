// The cashier's fiscal register panel: a sale held for the register (ККТ) — paper out, shift
// over 24 hours, the register's driver not answering — with the register's words and a
// «Повторить» button once the cause is removed. Polls, like the printer panel.
"use strict";

(() => {
  const S = Storeterm;
  const $ = (id) => document.getElementById(id);
  const panel = $("fiscal");
  if (!panel) return;
  const lane = () => $("lane").value || new URLSearchParams(location.search).get("lane") || "";
  const base = () => `/api/v1/lanes/${encodeURIComponent(lane())}/fiscal`;

  function render(v) {
    const p = v.pending;
    if (!p) { panel.hidden = true; return; }
    panel.hidden = false;
    $("fiscal-status").textContent = `Чек № ${p.number} на ${p.total} не пробит на кассе: ${p.message}`;
    $("fiscal-retry").hidden = p.stage.state === "needs_person";
  }

  async function refresh() {
    if (!lane()) return;
    try { render(await S.api("GET", base())); } catch (_) { /* the link badge already says so */ }
  }

  $("fiscal-retry").addEventListener("click", async () => {
    $("fiscal-retry").disabled = true;
    try {
      const r = await S.api("POST", `${base()}/retry`, {});
      const f = r.fiscal;
      $("message").textContent = `Чек № ${r.receipt.number} пробит на кассе` + (f ? ` (ФД ${f.fd}, ФП ${f.fp})` : "");
      $("message").className = "message ok";
    } catch (e) {
      $("fiscal-status").textContent = e.message;
    } finally {
      $("fiscal-retry").disabled = false;
    }
    refresh();
  });

  refresh();
  setInterval(refresh, 2000);
})();
