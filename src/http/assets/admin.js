// The admin page: polls the status API and shows devices, the CRM link, the outbox, print
// jobs and what the virtual printer printed.
"use strict";

(() => {
  const S = Storeterm;
  const $ = (id) => document.getElementById(id);
  const STATES = { connected: "подключено", connecting: "подключается", disconnected: "отключено" };
  const PARTS = { running: "работает", restarting: "перезапускается", stopped: "остановлена" };
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

  // A parked document: send it again once the CRM side is fixed, or drop it with a reason.
  function parkedButtons(d) {
    const act = async (path, body) => {
      try { await S.api("POST", `/api/v1/admin/parked/${d.seq}/${path}`, body); } catch (e) { $("message").textContent = e.message; }
    };
    return S.el("span", {},
      S.el("button", { type: "button", onclick: () => act("resend", {}) }, "Отправить снова"),
      S.el("button", { type: "button", class: "quiet", onclick: () => {
        const reason = window.prompt(`Почему документ № ${d.seq} не нужно отправлять в CRM?`);
        if (reason && reason.trim()) act("drop", { reason: reason.trim() });
      } }, "Отбросить"));
  }

  function renderOnec(o) {
    $("onec-section").hidden = !o;
    if (!o) return;
    const when = (t) => (t ? new Date(t).toLocaleString("ru-RU") : "не было");
    $("onec").textContent = `Последний обмен: ${when(o.last_exchange)}. ` +
      (o.last_import ? `Последняя загрузка: ${o.last_import_ok ? "успешно" : "ошибка"} — ${o.last_import}. ` : "") +
      `Продаж выдано в 1С: ${o.sales_handed_out}, подтверждено: ${o.sales_acknowledged}. Снято с продажи по полной выгрузке: ${o.items_deactivated}.`;
  }

  const S_time = (t) => (t ? new Date(t).toLocaleString("ru-RU") : "—");

  // The CRM/1C link, the PBX and the fiscal registers, each in one line.
  function renderLinks(s) {
    const crm = s.crm;
    const crmState = !crm.configured ? "не настроена" : crm.online === true ? "на связи" : crm.online === false ? "недоступна" : "ещё не было обмена";
    const registers = s.devices.filter((d) => d.kind === "fiscal");
    const lines = [
      ["CRM / 1С", crmState, `загрузка: ${S_time(crm.last_pull)}; отправка: ${S_time(crm.last_push)}` + (s.onec ? `; обмен с 1С: ${S_time(s.onec.last_exchange)}` : "")],
      ["АТС", s.calls ? "подключена" : "не настроена",
        s.calls ? `пропущено сигналов: ${s.calls.dropped_signals}; карточек позже срока: ${s.calls.late_cards}` : ""],
      ["ККТ", registers.length ? registers.map((d) => `${d.id}: ${STATES[d.state] || d.state}`).join(", ") : "не настроена",
        registers.length ? registers.map((d) => d.detail || "").filter(Boolean).join("; ") : "чеки печатаются без фискального регистратора"],
    ];
    rows("links", lines, (l) => l);
  }

  function renderBackups(b) {
    if (!b) {
      $("backups").textContent = "Не настроены: добавьте [backup] в конфигурацию (dir, every, keep) — или снимайте копии сами: storeterm backup --to ФАЙЛ.";
      return;
    }
    const newest = b.newest ? `последняя — ${S_time(b.newest.taken_at)}, ${Math.ceil(b.newest.bytes / 1024)} КиБ (${b.newest.path})` : "ни одной ещё нет";
    $("backups").textContent = `Каталог ${b.dir}: копий ${b.count ?? 0}, ${newest}.` + (b.last_error ? ` Последняя попытка не удалась: ${b.last_error}` : "");
    $("backups").className = b.last_error || !b.newest ? "error" : "";
  }

  function renderErrors(s) {
    const errors = [];
    if (s.crm.pull_error) errors.push(`Загрузка из CRM: ${s.crm.pull_error}`);
    if (s.crm.push_error) errors.push(`Отправка в CRM: ${s.crm.push_error}`);
    for (const r of (s.crm.feed_rejected || []).slice(-5)) errors.push(`Изменение из CRM отклонено: ${r}`);
    for (const d of s.devices) if (d.state !== "connected" && d.detail) errors.push(`${d.id}: ${d.detail}`);
    for (const p of s.outbox.parked.slice(0, 5)) errors.push(`Документ № ${p.seq} (${p.kind}) отклонён CRM: ${p.reason}`);
    for (const p of s.parts || []) if (p.last_error) errors.push(`Служба «${p.name}»: ${p.last_error}`);
    if (s.backups && s.backups.last_error) errors.push(`Резервная копия: ${s.backups.last_error}`);
    if (!errors.length) errors.push("Ошибок нет.");
    $("errors").replaceChildren(...errors.map((e) => S.el("li", {}, e)));
  }

  function render(s) {
    $("version").textContent = "v" + s.version;
    const crm = s.crm;
    $("crm").textContent = !crm.configured ? "CRM не настроена" : crm.online === true ? "CRM на связи" : crm.online === false ? "CRM недоступна" : "CRM: …";
    $("crm").className = "badge " + (crm.online ? "on" : "off");
    const KINDS = { printer: "принтер", scanner: "сканер", fiscal: "ККТ" };
    rows("devices", s.devices, (d) => [d.id, KINDS[d.kind] || d.kind, d.endpoint, STATES[d.state] || d.state, d.detail || "", paperButton(d)]);
    // Each lane's fiscal register and a sale it holds (waiting for the register's document).
    rows("lanes", s.lanes || [], (l) => [l.id, l.register_state,
      l.fiscal.pending ? `${l.fiscal.pending.what || "чек № " + l.fiscal.pending.number} на ${l.fiscal.pending.total} ждёт ККТ: ${l.fiscal.pending.message}` : (l.fiscal.busy || "")]);
    $("sync").textContent = `Товаров в каталоге: ${s.catalog.items}. Документов в очереди: ${s.outbox.waiting}; подтверждено до № ${s.outbox.delivered_seq}.` +
      (crm.pull_error ? ` Ошибка загрузки: ${crm.pull_error}.` : "") +
      (crm.push_error ? ` Ошибка отправки: ${crm.push_error}.` : "");
    const oldest = s.outbox.pending.length ? S_time(s.outbox.pending[0].created_at) : "—";
    $("outbox").textContent = `Очередь: ${s.outbox.waiting} док., старейший — ${oldest}; отклонено CRM: ${s.outbox.parked.length}.`;
    renderLinks(s);
    renderBackups(s.backups);
    renderErrors(s);
    rows("pending", s.outbox.pending, (d) => [d.seq, d.kind, d.created_at]);
    rows("parked", s.outbox.parked, (d) => [d.seq, d.kind, d.reason, parkedButtons(d)]);
    rows("dropped", s.outbox.dropped || [], (d) => [d.seq, d.kind, d.crm_reason, d.reason, d.by]);
    const alarms = [crm.alarm, s.onec && s.onec.alarm].filter(Boolean);
    $("alarm").hidden = alarms.length === 0;
    $("alarm").textContent = alarms.join(" ");
    renderOnec(s.onec);
    rows("parts", s.parts, (p) => [p.name, PARTS[p.state] || p.state, p.restarts, p.last_error || ""]);
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
