// The cashier's screen. The scan field keeps the focus, so a keyboard-wedge scanner (which
// "types" the code and presses Enter) works like the serial scanner bound to the lane.
"use strict";

(() => {
  const S = Storeterm;
  const $ = (id) => document.getElementById(id);
  const scan = $("scan");
  let lane = new URLSearchParams(location.search).get("lane") || "";
  let receipt = null;
  let editing = false;

  function say(text, kind) {
    const m = $("message");
    m.textContent = text;
    m.className = "message " + (kind || "");
  }

  function refocus() {
    if (!editing && document.activeElement !== $("amount")) scan.focus();
  }

  function renderReceipt(r) {
    receipt = r;
    // An update arriving while the cashier types a quantity waits until the edit is done.
    if (editing) return;
    $("title").textContent = r.number ? `Чек № ${r.number}` + (r.shift ? ` · смена ${r.shift}` : "") : "Чек не открыт";
    const body = $("lines");
    body.replaceChildren(...r.lines.map((l) => S.el("tr", { "data-no": l.no },
      S.el("td", {}, l.no),
      S.el("td", {}, l.mark ? `${l.name} · КМ ${l.mark.serial}` : l.name),
      S.el("td", { class: "num qty", title: "Изменить количество", onclick: () => editQty(l) }, l.qty),
      S.el("td", { class: "num" }, l.price),
      S.el("td", { class: "num" }, l.sum),
      S.el("td", {}, S.el("button", { type: "button", class: "void", title: "Удалить строку", onclick: () => voidLine(l.no) }, "✕")),
    )));
    $("total").textContent = r.total;
    const paid = Number(r.paid) > 0;
    const card = r.loyalty_card ? `Карта ${r.loyalty_card}` : "";
    $("paid-info").textContent = [card, paid ? `Оплачено ${r.paid}, осталось ${r.remaining}` : ""].filter(Boolean).join(" · ");
    if (document.activeElement !== $("amount")) $("amount").value = r.lines.length ? r.remaining : "";
    $("cancel").disabled = !r.number;
  }

  function renderShift(s) {
    const open = s && s.status === "open";
    $("shift").textContent = open ? `Смена № ${s.number} открыта` : "Смена закрыта";
    $("shift").className = "badge " + (open ? "on" : "off");
  }

  async function run(action, okText) {
    try {
      const result = await action();
      if (okText) say(okText, "ok");
      return result;
    } catch (e) {
      say(e.message, "error");
      if (e.status === 401) S.logout();
      return null;
    } finally {
      refocus();
    }
  }

  const path = (p) => `/api/v1/lanes/${encodeURIComponent(lane)}${p}`;

  async function submitScan(code) {
    if (!code.trim()) return;
    const r = await run(() => S.api("POST", path("/scan"), { code }));
    if (r) { renderReceipt(r); say(`Добавлено: ${code.trim()}`, "ok"); $("change").hidden = true; }
  }

  function editQty(line) {
    editing = true;
    const cell = document.querySelector(`tr[data-no="${line.no}"] .qty`);
    const input = S.el("input", { class: "qty-edit", value: line.qty, inputmode: "decimal" });
    cell.replaceChildren(input);
    input.focus();
    input.select();
    const done = async (save) => {
      if (!editing) return;
      editing = false;
      if (save && input.value !== line.qty) {
        const r = await run(() => S.api("PATCH", path(`/receipt/lines/${line.no}`), { qty: input.value }));
        if (r) renderReceipt(r); else renderReceipt(receipt);
      } else {
        renderReceipt(receipt);
      }
      refocus();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); done(true); }
      if (e.key === "Escape") done(false);
    });
    input.addEventListener("blur", () => done(true));
  }

  async function voidLine(no) {
    const r = await run(() => S.api("DELETE", path(`/receipt/lines/${no}`)), `Строка ${no} удалена`);
    if (r) renderReceipt(r);
  }

  async function pay(method) {
    const amount = $("amount").value.trim().replace(",", ".");
    const r = await run(() => S.api("POST", path("/payments"), { method, amount }));
    if (!r) return;
    if (r.status === "closed") {
      const change = $("change");
      change.hidden = false;
      change.textContent = Number(r.change) > 0 ? `Сдача: ${r.change}` : "Оплачено без сдачи";
      say(`Чек № ${r.receipt.number} закрыт`, "ok");
      renderReceipt({ lines: [], total: "0.00", paid: "0.00", remaining: "0.00" });
    } else {
      say(`Принято ${amount}, осталось ${r.remaining}`, "ok");
      renderReceipt(r.receipt);
    }
  }

  function onEvent(name, data) {
    if (name === "receipt") renderReceipt(data);
    else if (name === "refused") say(data.scan ? `${data.scan}: ${data.message}` : data.message, "error");
    else if (name === "shift") renderShift(data);
    else if (name === "closed") {
      const change = $("change");
      change.hidden = false;
      change.textContent = Number(data.change) > 0 ? `Сдача: ${data.change}` : "Оплачено без сдачи";
    } else if (name === "resync") S.api("GET", path("/receipt")).then(renderReceipt).catch(() => {});
  }

  function onLink(up) {
    $("link").textContent = up ? "на связи" : "нет связи";
    $("link").className = "badge " + (up ? "on" : "off");
  }

  async function start() {
    const me = await run(() => S.api("GET", "/api/v1/whoami"));
    if (!me) return;
    $("who").textContent = me.name;
    const lanes = await run(() => S.api("GET", "/api/v1/lanes"));
    if (!lanes || lanes.length === 0) { say("Нет касс в конфигурации", "error"); return; }
    if (!lanes.some((l) => l.id === lane)) lane = lanes[0].id;
    $("lane").replaceChildren(...lanes.map((l) => S.el("option", { value: l.id }, l.id)));
    $("lane").value = lane;
    renderShift(lanes.find((l) => l.id === lane).shift);
    S.follow(path("/events"), onEvent, onLink);
  }

  $("scan-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const code = scan.value;
    scan.value = "";
    submitScan(code);
  });
  $("lane").addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("lane", $("lane").value);
    location.href = url.toString();
  });
  $("open-shift").addEventListener("click", async () => {
    const s = await run(() => S.api("POST", path("/shift/open"), {}));
    if (s) { renderShift(s); say(`Смена № ${s.number} открыта`, "ok"); }
  });
  $("close-shift").addEventListener("click", async () => {
    const s = await run(() => S.api("POST", path("/shift/close")));
    if (s) {
      renderShift(s);
      const t = s.totals;
      say(`Смена № ${s.number} закрыта: чеков ${s.receipts}, выручка ${t.sales} (наличные ${t.cash}, карты ${t.card})`, "ok");
    }
  });
  $("pay-cash").addEventListener("click", () => pay("cash"));
  $("pay-card").addEventListener("click", () => pay("card"));
  $("amount").addEventListener("keydown", (e) => { if (e.key === "Enter") pay("cash"); });
  $("amount").addEventListener("blur", () => setTimeout(refocus, 0));
  $("cancel").addEventListener("click", async () => {
    const r = await run(() => S.api("POST", path("/receipt/cancel")), "Чек отменён");
    if (r) renderReceipt(r);
  });
  $("logout").addEventListener("click", S.logout);
  // Keep the scan field focused: a scan typed while focus is elsewhere must not be lost.
  scan.addEventListener("blur", () => setTimeout(refocus, 0));
  document.addEventListener("keydown", (e) => {
    const t = document.activeElement;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT")) return;
    if (e.key.length === 1 && !e.ctrlKey && !e.metaKey) scan.focus();
  });

  S.requireLogin($("login"), start);
})();
