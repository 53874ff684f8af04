// The cashier's fiscal register panel: a sale, return or cash movement held for the register (ККТ) — paper out, shift
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
    // `what`: «чек № 7», «возврат № 1», «внесение 500.00» (a held sale, return or cash movement).
    const what = p.what || `чек № ${p.number}`;
    $("fiscal-status").textContent = `${what[0].toUpperCase()}${what.slice(1)} на ${p.total} не пробит на кассе: ${p.message}`;
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
      const what = r.receipt ? `Чек № ${r.receipt.number}` : r.return ? `Возврат № ${r.return.number}` : "Операция с наличными";
      $("message").textContent = `${what} пробит на кассе` + (f ? ` (ФД ${f.fd}, ФП ${f.fp})` : "");
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
