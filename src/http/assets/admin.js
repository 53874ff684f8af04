// The admin page: polls the status API and shows devices, the CRM link, the outbox, print
// jobs and what the virtual printer printed.
"use strict";

(() => {
  const S = Storeterm;
  const $ = (id) => document.getElementById(id);
  const STATES = { connected: "подключено", connecting: "подключается", disconnected: "отключено" };
  const JOBS = { queued: "в очереди", sending: "печатается", printed: "напечатан", failed: "ошибка", unknown: "неизвестно — перепечатать?" };

  // Rows are redrawn only when what they show changed: a poll that replaced a button between
  // the press and the release of a click would swallow the click.
  const shown = {};
  const rows = (id, items, cells) => {
    const data = items.map(cells);
    const key = JSON.stringify(data.map((r) => r.map((c) => (c instanceof Node ? c.outerHTML : String(c)))));
    if (shown[id] === key) return;
    shown[id] = key;
    $(id).replaceChildren(...data.map((r) => S.el("tr", {}, ...r.map((c) => S.el("td", {}, c)))));
  };

  // A virtual printer's roll can be taken out and put back, to try what the cashier sees.
  function paperButton(d) {
    if (d.kind !== "printer" || d.endpoint !== "virtual") return "";
    const out = /нет бумаги/.test(d.detail || "");
    return S.el("button", { type: "button", class: "paper-toggle", onclick: async () => {
      try { await S.api("POST", `/api/v1/admin/printers/${encodeURIComponent(d.id)}/paper`, { loaded: out }); } catch (e) { $("message").textContent = e.message; }
    } }, out ? "Вставить бумагу" : "Вынуть бумагу");
  }

  function render(s) {
    $("version").textContent = "v" + s.version;
    const crm = s.crm;
    $("crm").textContent = !crm.configured ? "CRM не настроена" : crm.online === true ? "CRM на связи" : crm.online === false ? "CRM недоступна" : "CRM: …";
    $("crm").className = "badge " + (crm.online ? "on" : "off");
    rows("devices", s.devices, (d) => [d.id, d.kind === "printer" ? "принтер" : "сканер", d.endpoint, STATES[d.state] || d.state, d.detail || "", paperButton(d)]);
    $("sync").textContent = `Товаров в каталоге: ${s.catalog.items}. Документов в очереди: ${s.outbox.waiting}; подтверждено до № ${s.outbox.delivered_seq}.` +
      (crm.pull_error ? ` Ошибка загрузки: ${crm.pull_error}.` : "") +
      (crm.push_error ? ` Ошибка отправки: ${crm.push_error}.` : "");
    rows("pending", s.outbox.pending, (d) => [d.seq, d.kind, d.created_at]);
    rows("parked", s.outbox.parked, (d) => [d.seq, d.kind, d.reason]);
    rows("jobs", s.print_jobs, (j) => [j.receipt.slice(0, 8) + (j.copy ? " (КОПИЯ)" : ""), j.printer, JOBS[j.state] || j.state, j.error || ""]);
    const paperKey = JSON.stringify(s.paper.map((p) => p.job));
    if (shown.paper !== paperKey) {
      shown.paper = paperKey;
      $("paper").replaceChildren(...s.paper.slice().reverse().map((p) => S.el("pre", { class: "paper", "data-job": p.job }, p.lines.join("\n"))));
    }
  }

  async function poll() {
    try {
      render(await S.api("GET", "/api/v1/admin/status"));
      $("message").textContent = "";
    } catch (e) {
      $("message").textContent = e.message;
      $("message").className = "message error";
      if (e.status === 401 || e.status === 403) { S.rejected(); return; }
    }
    setTimeout(poll, 2000);
  }

  $("logout").addEventListener("click", S.logout);
  S.requireLogin($("login"), poll);
})();
