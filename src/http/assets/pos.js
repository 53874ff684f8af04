// The cashier's screen. The scan field keeps the focus, so a keyboard-wedge scanner (which
// "types" the code and presses Enter) works like the serial scanner bound to the lane.
// Function keys (shown along the bottom) reach the rest: search, quantity, discount, client,
// payment, parked receipts, returns, cash in and out.
"use strict";

(() => {
  const S = Storeterm;
  const fmt = S.money;
  const $ = (id) => document.getElementById(id);
  const scan = $("scan");
  let lane = new URLSearchParams(location.search).get("lane") || "";
  let receipt = null;
  let editing = false;
  // A closed receipt stays on screen, change due and all, until the next scan.
  let closedShown = false;
  let dialogOpen = false;

  function say(text, kind) {
    const m = $("message");
    m.textContent = text;
    m.className = "message " + (kind || "");
  }

  function refocus() {
    if (!editing && !dialogOpen && document.activeElement !== $("amount")) scan.focus();
  }

  // A modal form: `fields` are {name, label, value, type: "text"|"select", options}; resolves
  // to the values entered, or null when cancelled.
  function ask(title, fields, okText, extra) {
    const dialog = $("dialog");
    $("dialog-title").textContent = title;
    const inputs = fields.map((f) => {
      const input = f.type === "select"
        ? S.el("select", { name: f.name }, ...f.options.map(([v, t]) => S.el("option", { value: v }, t)))
        : S.el("input", { name: f.name, autocomplete: "off", inputmode: f.inputmode, value: f.value == null ? "" : f.value });
      if (f.type === "select" && f.value) input.value = f.value;
      return { f, input };
    });
    $("dialog-body").replaceChildren(
      ...(extra ? [extra] : []),
      ...inputs.map(({ f, input }) => S.el("label", {}, f.label, input)));
    $("dialog-ok").textContent = okText || "OK";
    dialogOpen = true;
    dialog.showModal();
    if (inputs.length) { inputs[0].input.focus(); if (inputs[0].input.select) inputs[0].input.select(); }
    else $("dialog-ok").focus();
    return new Promise((resolve) => {
      const finish = (ok) => {
        $("dialog-form").removeEventListener("submit", onSubmit);
        $("dialog-cancel").removeEventListener("click", onCancel);
        dialog.removeEventListener("cancel", onCancel);
        if (dialog.open) dialog.close();
        dialogOpen = false;
        const values = {};
        for (const { f, input } of inputs) values[f.name] = input.value.trim();
        resolve(ok ? values : null);
        setTimeout(refocus, 0);
      };
      const onSubmit = (e) => { e.preventDefault(); finish(true); };
      const onCancel = (e) => { e.preventDefault(); finish(false); };
      $("dialog-form").addEventListener("submit", onSubmit);
      $("dialog-cancel").addEventListener("click", onCancel);
      dialog.addEventListener("cancel", onCancel);
    });
  }

  const confirmDo = (title, okText) => ask(title, [], okText).then((v) => v !== null);

  function lineCells(l) {
    const promo = Number(l.discount) > 0
      ? S.el("span", { class: "promo" }, `скидка −${fmt(l.discount)}` + (l.promotions && l.promotions.length ? ` · ${l.promotions.join(", ")}` : ""))
      : "";
    return [
      S.el("td", {}, l.no),
      S.el("td", {}, l.mark ? `${l.name} · КМ ${l.mark.serial}` : l.name, promo),
    ];
  }

  function renderLines(r, editable) {
    $("lines").replaceChildren(...r.lines.map((l) => S.el("tr", { "data-no": l.no },
      ...lineCells(l),
      S.el("td", editable ? { class: "num qty", title: "Изменить количество", onclick: () => editQty(l) } : { class: "num" }, l.qty),
      S.el("td", { class: "num" }, fmt(l.price)),
      S.el("td", { class: "num" }, fmt(l.to_pay || l.sum)),
      S.el("td", {}, editable ? S.el("button", { type: "button", class: "void", title: "Удалить строку", onclick: () => voidLine(l.no) }, "✕") : ""),
    )));
    $("discount-info").textContent = Number(r.discount) > 0 ? `Скидка по чеку: ${fmt(r.discount)}` : "";
    const c = r.client;
    $("client").hidden = !c;
    if (c) {
      $("client").textContent = `Клиент: ${c.name} · бонусов ${fmt(c.bonus_balance)}` + (c.stop_list ? " · в стоп-листе: продажа в кредит запрещена" : "");
      $("client").className = "client" + (c.stop_list ? " stop" : "");
    }
    $("pay-bonus").hidden = !c;
    $("pay-credit").hidden = !c || !c.allow_credit;
  }

  function renderReceipt(r) {
    receipt = r;
    // An update arriving while the cashier types a quantity waits until the edit is done.
    if (editing) return;
    // No receipt open yet: the closed one (with its change due) stays until the next scan.
    if (!r.number && closedShown) return;
    closedShown = false;
    $("change").hidden = true;
    $("title").textContent = r.number ? `Чек № ${r.number}` + (r.shift ? ` · смена ${r.shift}` : "") : "Чек не открыт";
    renderLines(r, true);
    $("total").textContent = fmt(r.total);
    const paid = Number(r.paid) > 0;
    const card = r.loyalty_card ? `Карта ${r.loyalty_card}` : "";
    $("paid-info").textContent = [card, paid ? `Оплачено ${fmt(r.paid)}, осталось ${fmt(r.remaining)}` : ""].filter(Boolean).join(" · ");
    if (document.activeElement !== $("amount")) $("amount").value = r.lines.length ? String(r.remaining).replace(".", ",") : "";
    $("cancel").disabled = !r.number;
  }

  function showClosed(c) {
    closedShown = true;
    $("title").textContent = `Чек № ${c.number} закрыт`;
    renderLines(c, false);
    $("total").textContent = fmt(c.total);
    $("paid-info").textContent = (c.payments || []).map((p) => `${methodName(p.method)} ${fmt(p.amount)}`).join(" · ")
      + (Number(c.bonus_accrued) > 0 ? ` · начислено бонусов ${fmt(c.bonus_accrued)}` : "");
    $("amount").value = "";
    $("cancel").disabled = true;
    const change = $("change");
    change.hidden = false;
    change.textContent = Number(c.change) > 0 ? `Сдача: ${fmt(c.change)}` : "Оплачено без сдачи";
  }

  function methodName(m) {
    return { cash: "Наличные", card: "Карта", bonus: "Бонусы", credit: "Кредит" }[m] || m;
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
      if (e.status === 401) S.rejected();
      return null;
    } finally {
      refocus();
    }
  }

  const path = (p) => `/api/v1/lanes/${encodeURIComponent(lane)}${p}`;

  // The QR code on a sale receipt is the sale's id: scanned at the till, it starts a return.
  const SALE_CODE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

  async function submitScan(code) {
    if (!code.trim()) return;
    if (SALE_CODE.test(code.trim())) { returnGoods(code.trim()); return; }
    closedShown = false;
    const r = await run(() => S.api("POST", path("/scan"), { code }));
    if (r) { renderReceipt(r); say(`Добавлено: ${code.trim()}`, "ok"); }
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
        const r = await run(() => S.api("PATCH", path(`/receipt/lines/${line.no}`), { qty: input.value.replace(",", ".") }));
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

  // Amounts go to the API as typed (a comma becomes a point); the API refuses anything but a
  // plain decimal with at most two places.
  const amountText = (v) => String(v).trim().replace(/\s/g, "").replace(",", ".");

  async function pay(method, body) {
    const amount = amountText($("amount").value);
    let request = { method, amount, ...(body || {}) };
    if (method === "card" && !body) {
      const v = await ask(`Оплата картой ${fmt(amount)}: терминал одобрил?`, [
        { name: "rrn", label: "RRN с чека терминала (необязательно)", inputmode: "numeric" },
      ], "Оплата одобрена");
      if (!v) return;
      request = { ...request, ...(v.rrn ? { rrn: v.rrn } : {}) };
    }
    let r;
    try {
      r = await S.api("POST", path("/payments"), request);
    } catch (e) {
      if (e.code === "confirm_amount" && await confirmDo(`${e.message}. Принять ${fmt(amount)} наличными?`, "Да, принять")) {
        return pay(method, { ...request, confirmed: true });
      }
      say(e.message, "error");
      if (e.status === 401) S.rejected();
      refocus();
      return;
    }
    if (r.status === "closed") {
      showClosed({ ...r.receipt, change: r.change });
      say(`Чек № ${r.receipt.number} закрыт`, "ok");
    } else {
      say(`Принято ${fmt(amount)}, осталось ${fmt(r.remaining)}`, "ok");
      renderReceipt(r.receipt);
    }
    refocus();
  }

  function onEvent(name, data) {
    if (name === "receipt") renderReceipt(data);
    else if (name === "refused") say(data.scan ? `${data.scan}: ${data.message}` : data.message, "error");
    else if (name === "shift") renderShift(data);
    else if (name === "closed") showClosed(data);
    else if (name === "resync") S.api("GET", path("/receipt")).then(renderReceipt).catch(() => {});
  }

  function onLink(up, why) {
    if (why === "unauthorized") { S.rejected(); return; }
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

  // --- Function keys ---------------------------------------------------------------------

  async function search() {
    const results = S.el("ul", { class: "results", id: "search-results" });
    const input = S.el("input", { id: "search-q", autocomplete: "off", placeholder: "Название, артикул или PLU" });
    let timer = null;
    const refresh = async () => {
      const q = input.value.trim();
      if (!q) { results.replaceChildren(); return; }
      const found = await run(() => S.api("GET", `/api/v1/items/search?q=${encodeURIComponent(q)}`));
      if (!found) return;
      results.replaceChildren(...(found.items.length ? found.items.map((i) => S.el("li", {},
        S.el("span", { class: "name" }, i.name),
        S.el("span", { class: "num" }, i.price ? fmt(i.price) : "нет цены"),
        i.barcode ? S.el("button", { type: "button", class: "add", onclick: () => { $("dialog-cancel").click(); submitScan(i.barcode); } }, "В чек") : "",
      )) : [S.el("li", {}, "Ничего не найдено")]));
    };
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(refresh, 150); });
    input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); refresh(); } });
    const box = S.el("div", {}, input, results);
    const done = ask("Поиск товара (проверка цены)", [], "Закрыть", box);
    input.focus();
    await done;
  }

  async function quantity() {
    const v = await ask("Количество для следующего товара", [{ name: "qty", label: "Количество", value: "", inputmode: "decimal" }], "Далее — сканируйте");
    if (!v || !v.qty) return;
    scan.value = `${v.qty}*`;
    scan.focus();
  }

  async function discount() {
    const lines = receipt && receipt.lines ? receipt.lines : [];
    const v = await ask("Скидка", [
      { name: "value", label: "Размер скидки (пусто — убрать скидку)", inputmode: "decimal" },
      { name: "kind", label: "В чём", type: "select", options: [["percent", "в процентах"], ["amount", "в рублях"]] },
      { name: "line", label: "На что", type: "select", options: [["", "на весь чек"], ...lines.map((l) => [String(l.no), `строка ${l.no}: ${l.name}`])] },
    ], "Применить");
    if (!v) return;
    const body = {};
    if (v.value) body[v.kind] = amountText(v.value);
    if (v.line) body.line = Number(v.line);
    const r = await run(() => S.api("POST", path("/receipt/discount"), body), v.value ? "Скидка применена" : "Скидка убрана");
    if (r) renderReceipt(r);
  }

  async function client() {
    const v = await ask("Клиент", [{ name: "key", label: "Карта лояльности или телефон" }], "Найти");
    if (!v || !v.key) return;
    const digits = v.key.replace(/\D/g, "");
    const body = /^[+8]/.test(v.key.trim()) || (digits.length >= 10 && digits.length <= 11 && digits.length !== 13) ? { phone: v.key } : { card: v.key };
    closedShown = false;
    const r = await run(() => S.api("POST", path("/receipt/client"), body));
    if (r) { renderReceipt(r); say(`Клиент: ${r.client.name}`, "ok"); }
  }

  async function park() {
    const p = await run(() => S.api("POST", path("/receipt/park"), {}));
    if (p) { say(`Чек № ${p.parked.number} отложен (${fmt(p.parked.total)})`, "ok"); renderReceipt({ lines: [], total: "0", paid: "0", remaining: "0" }); }
  }

  async function parked() {
    const list = await run(() => S.api("GET", path("/parked")));
    if (!list) return;
    if (!list.length) { say("Отложенных чеков нет", "ok"); return; }
    const v = await ask("Отложенные чеки", [{ name: "id", label: "Вернуть в работу", type: "select",
      options: list.map((p) => [p.id, `№ ${p.number} · ${fmt(p.total)} · строк ${p.lines}`]) }], "Вернуть");
    if (!v) return;
    closedShown = false;
    const r = await run(() => S.api("POST", path(`/parked/${v.id}/resume`), {}));
    if (r) { renderReceipt(r); say(`Чек № ${r.number} снова в работе`, "ok"); }
  }

  async function returnGoods(saleCode) {
    const v = await ask("Возврат по чеку", [
      { name: "receipt", label: "Код с чека продажи (сканируйте), номер чека в смене или «смена/чек»", value: typeof saleCode === "string" ? saleCode : "" },
      { name: "no", label: "Номер строки чека", value: "1", inputmode: "numeric" },
      { name: "qty", label: "Количество", value: "1", inputmode: "decimal" },
      { name: "method", label: "Вернуть деньги", type: "select", options: [["cash", "наличными"], ["card", "на карту"]] },
    ], "Далее");
    if (!v || !v.receipt) return;
    const sure = await confirmDo(`Оформить возврат: чек ${v.receipt}, строка ${v.no}, количество ${v.qty}, ${v.method === "cash" ? "наличными" : "на карту"}?`, "Оформить возврат");
    if (!sure) return;
    const r = await run(() => S.api("POST", path("/returns"), {
      receipt: v.receipt, lines: [{ no: Number(v.no), qty: v.qty.replace(",", ".") }], method: v.method,
    }));
    if (r) say(`Возврат № ${r.return.number} оформлен: ${fmt(r.return.total)}`, "ok");
  }

  async function cash() {
    const v = await ask("Внесение или выплата наличных", [
      { name: "direction", label: "Операция", type: "select", options: [["in", "внесение"], ["out", "выплата (инкассация)"]] },
      { name: "amount", label: "Сумма", inputmode: "decimal" },
      { name: "reason", label: "Основание", value: "" },
    ], "Провести");
    if (!v) return;
    const r = await run(() => S.api("POST", path("/cash"), { direction: v.direction, amount: amountText(v.amount), reason: v.reason }));
    if (r) say(`${v.direction === "in" ? "Внесено" : "Выплачено"} ${fmt(r.movement.amount)}; в кассе ${fmt(r.movement.drawer_after)}`, "ok");
  }

  async function xReport() {
    const s = await run(() => S.api("POST", path("/x-report"), {}));
    if (s) say(`X-отчёт напечатан: продажи ${fmt(s.totals.sales)}, возвраты ${fmt(s.totals.refunds || "0")}, в кассе ${fmt(s.drawer)}`, "ok");
  }

  const keys = {
    F2: search, F3: quantity, F4: discount, F5: client, F6: () => { $("amount").focus(); $("amount").select(); },
    F7: park, F8: parked, F9: returnGoods, F10: cash,
  };
  const buttons = {
    "fk-search": search, "fk-qty": quantity, "fk-discount": discount, "fk-client": client, "fk-pay": keys.F6,
    "fk-park": park, "fk-parked": parked, "fk-return": returnGoods, "fk-cash": cash, "fk-x": xReport,
  };
  for (const [id, action] of Object.entries(buttons)) $(id).addEventListener("click", action);

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
    if (!await confirmDo("Закрыть смену и напечатать Z-отчёт?", "Закрыть смену")) return;
    const s = await run(() => S.api("POST", path("/shift/close")));
    if (s) {
      renderShift(s);
      const t = s.totals;
      say(`Смена № ${s.number} закрыта: чеков ${s.receipts}, выручка ${fmt(t.sales)} (наличные ${fmt(t.cash)}, карты ${fmt(t.card)}), возвратов ${s.returns}, в кассе ${fmt(s.drawer)}`, "ok");
    }
  });
  $("pay-cash").addEventListener("click", () => pay("cash"));
  $("pay-card").addEventListener("click", () => pay("card"));
  $("pay-bonus").addEventListener("click", () => pay("bonus", {}));
  $("pay-credit").addEventListener("click", () => pay("credit", {}));
  $("amount").addEventListener("keydown", (e) => { if (e.key === "Enter") pay("cash"); });
  $("amount").addEventListener("blur", () => setTimeout(refocus, 0));
  $("cancel").addEventListener("click", async () => {
    if (!receipt || !receipt.number) return;
    if (!await confirmDo(`Отменить чек № ${receipt.number}?`, "Отменить чек")) return;
    const r = await run(() => S.api("POST", path("/receipt/cancel")), "Чек отменён");
    if (r) renderReceipt(r);
  });
  $("logout").addEventListener("click", S.logout);
  // Keep the scan field focused: a scan typed while focus is elsewhere must not be lost.
  scan.addEventListener("blur", () => setTimeout(refocus, 0));
  document.addEventListener("keydown", (e) => {
    if (keys[e.key] && !dialogOpen) { e.preventDefault(); keys[e.key](); return; }
    const t = document.activeElement;
    if (dialogOpen || (t && (t.tagName === "INPUT" || t.tagName === "SELECT"))) return;
    if (e.key.length === 1 && !e.ctrlKey && !e.metaKey) scan.focus();
  });

  S.requireLogin($("login"), start);
})();
