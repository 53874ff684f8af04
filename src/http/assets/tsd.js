// The storekeeper's handheld (ТСД). The built-in imager types a scan into the focused field
// and presses Enter, so one field keeps the focus and every Enter is one step. Each change is
// sent with an operation id made once: after a Wi-Fi drop the same request goes again with
// the same id, and storeterm answers it without applying it twice.
"use strict";

(() => {
  const S = Storeterm;
  const $ = (id) => document.getElementById(id);
  const scan = $("scan");
  const PENDING = "storeterm.tsd.pending";
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // crypto.randomUUID exists only in secure contexts; a handheld on the shop LAN uses http.
  function newId() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // Distinct sounds: a short high beep for OK, a long low buzz for an error.
  let audio = null;
  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = ok ? "sine" : "square";
      osc.frequency.value = ok ? 1320 : 180;
      gain.gain.value = 0.25;
      osc.connect(gain);
      gain.connect(audio.destination);
      const t = audio.currentTime;
      osc.start(t);
      osc.stop(t + (ok ? 0.12 : 0.6));
    } catch (e) {
      console.warn("no sound:", e);
    }
  }

  let flashTimer = null;
  function say(text, kind) {
    const m = $("message");
    m.textContent = text;
    m.className = "message " + (kind || "");
    if (kind === "ok" || kind === "error") {
      beep(kind === "ok");
      document.body.dataset.signal = kind;
      document.body.dataset.signals = String(Number(document.body.dataset.signals || 0) + 1);
      document.body.classList.remove("flash-ok", "flash-error");
      document.body.classList.add("flash-" + kind);
      clearTimeout(flashTimer);
      flashTimer = setTimeout(() => document.body.classList.remove("flash-ok", "flash-error"), 600);
    }
  }

  function prompt(text) { $("prompt").textContent = text; }
  function context(...nodes) { $("context").replaceChildren(...nodes); }
  function actions(...buttons) { $("actions").replaceChildren(...buttons); }
  function list(items) { $("list").replaceChildren(...items); }
  function button(label, onclick, id) { return S.el("button", { type: "button", id, onclick }, label); }
  function row(left, right, cls) { return S.el("li", { class: cls }, S.el("span", {}, left), S.el("span", { class: "qty" }, right)); }

  const retryable = (e) => e.status === 0 || e.status === 502 || e.status === 503 || e.status === 504;

  // Send a change and keep sending the same request (same id) until storeterm answers.
  async function send(method, path, body) {
    localStorage.setItem(PENDING, JSON.stringify({ method, path, body }));
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await S.api(method, path, body);
        } catch (e) {
          if (!retryable(e)) throw e;
          $("pending").hidden = false;
          say("Нет связи — повторяю ту же операцию…", "info");
          await sleep(Math.min(300 * 2 ** attempt, 5000));
        }
      }
    } finally {
      localStorage.removeItem(PENDING);
      $("pending").hidden = true;
    }
  }

  async function get(path) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await S.api("GET", path);
      } catch (e) {
        if (!retryable(e) || attempt >= 5) throw e;
        await sleep(300 * (attempt + 1));
      }
    }
  }

  const enc = encodeURIComponent;
  const QTY = /^\d{1,5}([.,]\d{1,3})?$/;

  let mode = "lookup";
  let st = {};
  let busy = false;

  function failed(e) {
    say(e.message || String(e), "error");
    if (e.status === 401) S.rejected();
  }

  // ---- modes: each has start() and step(text) ----

  const modes = {
    lookup: {
      start() { st = {}; prompt("Сканируйте ячейку или товар"); context(); actions(); list([]); },
      async step(text) {
        try {
          const c = await get(`/api/v1/wms/cells/${enc(text)}`);
          showCell(c);
          say(`Ячейка ${c.address}`, "ok");
        } catch (e) {
          if (e.code !== "unknown_cell") throw e;
          const s = await get(`/api/v1/wms/stock?code=${enc(text)}`);
          context(S.el("b", {}, s.name), S.el("div", {}, `Всего: ${s.total}`));
          list(s.cells.map((c) => row(c.address, c.qty)));
          say(s.cells.length ? `${s.name}: ${s.cells.length} яч.` : `${s.name}: нет на складе`, "ok");
        }
      },
    },

    receive: {
      start() {
        st = { step: "item", lines: [], expected: null, id: newId() };
        prompt("Сканируйте товар");
        renderReceive();
      },
      async step(text) {
        if (st.step === "expected") {
          st.expected = text || null;
          st.step = "item";
          prompt("Сканируйте товар");
          renderReceive();
          say(st.expected ? `Поставка ${st.expected}` : "Приёмка без поставки", "ok");
          return;
        }
        if (st.step === "qty") {
          if (QTY.test(text) || text === "") return addLine(text || "1");
          await addLine("1"); // another item scanned: the previous one counts as 1
        }
        const s = await get(`/api/v1/wms/stock?code=${enc(text)}`);
        st.item = { code: text, name: s.name };
        st.step = "qty";
        prompt("Количество");
        context(S.el("b", {}, s.name));
        say(s.name, "ok");
      },
    },

    putaway: {
      start() { st = { step: "item" }; prompt("Сканируйте товар"); context(); actions(); list([]); },
      async step(text) {
        if (st.step === "item") {
          const s = await get(`/api/v1/wms/stock?code=${enc(text)}`);
          st = { step: "qty", code: text, name: s.name };
          prompt("Количество");
          context(S.el("b", {}, s.name));
          say(s.name, "ok");
        } else if (st.step === "qty") {
          if (!QTY.test(text || "1")) throw new Error("Введите количество цифрами");
          st.qty = text || "1";
          const s = await get(`/api/v1/wms/putaway/suggest?code=${enc(st.code)}&qty=${enc(st.qty)}`);
          st.step = "cell";
          st.id = newId();
          prompt(`Сканируйте ячейку ${s.address}`);
          context(S.el("b", {}, `${st.name} × ${st.qty}`), S.el("div", { id: "suggested" }, `Предложено: ${s.address} — ${s.reason}`));
          say(`Положите в ${s.address}`, "ok");
        } else {
          const r = await send("POST", "/api/v1/wms/putaway", { id: st.id, code: st.code, qty: st.qty, cell: text });
          say(`Размещено: ${r.name} × ${r.qty} → ${r.to.address}`, "ok");
          modes.putaway.start();
        }
      },
    },

    move: {
      start() { st = { step: "from" }; prompt("Сканируйте ячейку (откуда)"); context(); actions(); list([]); },
      async step(text) {
        if (st.step === "from") {
          const c = await get(`/api/v1/wms/cells/${enc(text)}`);
          showCell(c);
          st = { step: "item", from: c.id, fromAddress: c.address };
          prompt("Сканируйте товар");
          say(`Из ${c.address}`, "ok");
        } else if (st.step === "item") {
          const s = await get(`/api/v1/wms/stock?code=${enc(text)}`);
          Object.assign(st, { step: "qty", code: text, name: s.name });
          prompt("Количество");
          context(S.el("b", {}, `${s.name} из ${st.fromAddress}`));
          say(s.name, "ok");
        } else if (st.step === "qty") {
          if (!QTY.test(text || "1")) throw new Error("Введите количество цифрами");
          Object.assign(st, { step: "to", qty: text || "1", id: newId() });
          prompt("Сканируйте ячейку (куда)");
          say(`${st.name} × ${st.qty}`, "ok");
        } else {
          const r = await send("POST", "/api/v1/wms/moves", { id: st.id, code: st.code, qty: st.qty, from: st.from, to: text });
          say(`Перемещено: ${r.name} × ${r.qty} ${r.from.address} → ${r.to.address}`, "ok");
          modes.move.start();
        }
      },
    },

    pick: {
      async start() {
        st = { step: "order" };
        prompt("Выберите заказ");
        context();
        actions();
        const orders = await get("/api/v1/wms/picks");
        st.orders = orders;
        list(orders.map((o) => S.el("li", { class: "order", "data-order": o.order, onclick: () => openOrder(o.order) },
          S.el("span", {}, `${o.number}`), S.el("span", { class: "qty" }, `${o.picked}/${o.qty}`))));
        if (!orders.length) say("Нет заказов к отбору", "info");
      },
      async step(text) {
        if (st.step === "order") {
          const o = st.orders.find((o) => o.order === text || o.number === text);
          if (!o) throw new Error(`Заказ ${text} не найден среди открытых`);
          return openOrder(o.order);
        }
        const stop = st.plan.route[0];
        if (st.step === "cell") {
          const c = await get(`/api/v1/wms/cells/${enc(text)}`);
          if (c.id !== stop.cell) throw new Error(`Не та ячейка: ${c.address}. Нужна ${stop.address}`);
          st.step = "item";
          prompt(`Сканируйте товар: ${stop.name}`);
          say(`Ячейка ${c.address}`, "ok");
        } else if (st.step === "item") {
          st.code = text;
          st.step = "qty";
          st.id = newId();
          prompt(`Количество (нужно ${stop.qty})`);
          say(stop.name, "ok");
        } else {
          if (text !== "" && !QTY.test(text)) throw new Error("Введите количество цифрами");
          const qty = text || stop.qty;
          let r;
          try {
            r = await send("POST", `/api/v1/wms/picks/${enc(st.order)}/scan`, { id: st.id, cell: stop.cell, code: st.code, qty });
          } catch (e) {
            // A wrong item: scan the item again.
            st.step = "item";
            prompt(`Сканируйте товар: ${stop.name}`);
            throw e;
          }
          say(`Взято: ${r.name} × ${r.qty}${r.done ? " — заказ собран" : ""}`, "ok");
          await openOrder(st.order, true);
        }
      },
    },

    count: {
      start() { st = { step: "cell", lines: [] }; prompt("Сканируйте ячейку"); context(); actions(); list([]); },
      async step(text) {
        if (st.step === "cell") {
          const c = await get(`/api/v1/wms/cells/${enc(text)}`);
          st = { step: "item", cell: c.id, address: c.address, lines: [], id: newId() };
          prompt("Сканируйте товар");
          renderCount();
          say(`Пересчёт ${c.address}`, "ok");
          return;
        }
        if (st.step === "qty") {
          if (QTY.test(text) || text === "0" || text === "") return countLine(text || "1");
          await countLine("1");
        }
        const s = await get(`/api/v1/wms/stock?code=${enc(text)}`);
        st.item = { code: text, name: s.name };
        st.step = "qty";
        prompt("Количество");
        context(S.el("b", {}, `${st.address}: ${s.name}`));
        say(s.name, "ok");
      },
    },
  };

  function showCell(c) {
    context(S.el("b", {}, c.address), S.el("div", {}, `Зона ${c.zone}`));
    list(c.stock.length ? c.stock.map((l) => row(l.name || l.item, l.qty)) : [S.el("li", {}, "Пусто")]);
  }

  function renderReceive() {
    context(S.el("div", {}, st.expected ? `Поставка: ${st.expected}` : "Без ожидаемой поставки"));
    list(st.lines.map((l) => row(l.name, l.qty)));
    actions(
      button("Поставка…", () => { st.step = "expected"; prompt("Номер поставки (Enter — без неё)"); }, "receive-expected"),
      button("Провести", submitReceipt, "receive-submit"),
    );
  }

  async function addLine(qty) {
    st.lines.push({ code: st.item.code, name: st.item.name, qty: qty.replace(",", ".") });
    st.step = "item";
    prompt("Сканируйте товар");
    renderReceive();
    say(`${st.item.name} × ${qty}`, "ok");
  }

  async function submitReceipt() {
    if (!st.lines.length) { say("Нет строк для приёмки", "error"); return; }
    await guarded(async () => {
      const body = { id: st.id, lines: st.lines.map((l) => ({ code: l.code, qty: l.qty })) };
      if (st.expected) body.expected = st.expected;
      const r = await send("POST", "/api/v1/wms/receipts", body);
      modes.receive.start();
      list(r.differences.map((d) => row(`${d.name || d.item}: ожидалось ${d.expected}`, `${Number(d.diff) > 0 ? "+" : ""}${d.diff}`)));
      say(r.differences.length ? `Принято с расхождениями: ${r.differences.length}` : "Принято без расхождений", "ok");
    });
  }

  function renderCount() {
    context(S.el("b", {}, `Пересчёт ${st.address}`));
    list(st.lines.map((l) => row(l.name, l.qty)));
    actions(button("Завершить пересчёт", submitCount, "count-submit"));
  }

  async function countLine(qty) {
    st.lines.push({ code: st.item.code, name: st.item.name, qty: qty.replace(",", ".") });
    st.step = "item";
    prompt("Сканируйте товар или завершите");
    renderCount();
    say(`${st.item.name}: ${qty}`, "ok");
  }

  async function submitCount() {
    await guarded(async () => {
      const r = await send("POST", "/api/v1/wms/counts", { id: st.id, cell: st.cell, lines: st.lines.map((l) => ({ code: l.code, qty: l.qty })) });
      modes.count.start();
      list(r.lines.map((l) => row(`${l.name}: было ${l.system}`, `${l.counted} (${Number(l.diff) > 0 ? "+" : ""}${l.diff})`)));
      say(r.differences ? `Пересчёт ${r.address}: расхождений ${r.differences}` : `Пересчёт ${r.address}: без расхождений`, "ok");
    });
  }

  async function openOrder(order, quiet) {
    const plan = await get(`/api/v1/wms/picks/${enc(order)}`);
    st = { step: "cell", order, plan };
    const lines = plan.lines.map((l) => row(l.name, `${l.picked}/${l.qty}`, Number(l.remaining) === 0 ? "done" : ""));
    const stops = plan.route.map((s, i) => row(`${s.address} · ${s.name}`, s.qty, i === 0 ? "current" : ""));
    list([...stops, ...lines]);
    context(S.el("b", {}, `Заказ ${plan.number}`));
    actions(button("Завершить заказ", () => guarded(async () => {
      const r = await send("POST", `/api/v1/wms/picks/${enc(order)}/complete`, { id: newId() });
      say(r.complete ? `Заказ ${r.number} собран` : `Заказ ${r.number} закрыт с недостачей`, "ok");
      await modes.pick.start();
    }), "pick-complete"), button("К заказам", () => guarded(() => modes.pick.start())));
    if (plan.route.length) {
      prompt(`Сканируйте ячейку ${plan.route[0].address}`);
    } else {
      st.step = "done";
      prompt("Заказ собран — завершите");
    }
    if (!quiet) say(`Заказ ${plan.number}`, "ok");
  }

  // ---- plumbing ----

  async function guarded(work) {
    if (busy) return;
    busy = true;
    document.body.dataset.busy = "1";
    try {
      await work();
    } catch (e) {
      failed(e);
    } finally {
      busy = false;
      delete document.body.dataset.busy;
      refocus();
    }
  }

  function setMode(name) {
    mode = name;
    for (const b of document.querySelectorAll("#modes button")) b.classList.toggle("active", b.dataset.mode === name);
    say("", "");
    guarded(async () => { await modes[name].start(); });
  }

  function refocus() {
    if ($("login").hidden && document.activeElement !== scan) scan.focus();
  }

  $("scan-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = scan.value.trim();
    scan.value = "";
    if (busy) { say("Подождите ответа…", "info"); return; }
    if (!text && !(st.step === "qty" || st.step === "expected")) return;
    guarded(() => modes[mode].step(text));
  });
  for (const b of document.querySelectorAll("#modes button")) b.addEventListener("click", () => setMode(b.dataset.mode));
  $("logout").addEventListener("click", S.logout);
  // The scan field keeps the focus: taps elsewhere must not swallow the next scan.
  scan.addEventListener("blur", () => setTimeout(refocus, 0));
  document.addEventListener("click", () => setTimeout(refocus, 0));

  S.requireLogin($("login"), async () => {
    try {
      const me = await S.api("GET", "/api/v1/whoami");
      $("who").textContent = me.name;
    } catch (e) {
      failed(e);
      return;
    }
    // A change that was in flight when the page was closed goes again, with its id.
    const pending = localStorage.getItem(PENDING);
    setMode(new URLSearchParams(location.search).get("mode") || "lookup");
    if (pending) {
      const p = JSON.parse(pending);
      guarded(async () => {
        await send(p.method, p.path, p.body);
        say("Незавершённая операция отправлена", "ok");
      });
    }
    refocus();
  });
})();
