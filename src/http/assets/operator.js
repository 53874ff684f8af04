// The operator's screen: one card per call, shown while the phone still rings, updated when
// the CRM's live card arrives, closed when someone else answers or the call ends.
"use strict";

(() => {
  const { el, api, follow, money } = Storeterm;
  const calls = document.getElementById("calls");
  const idle = document.getElementById("idle");
  const message = document.getElementById("message");
  const cards = new Map(); // call id → card element

  function say(text, kind) {
    message.textContent = text || "";
    message.className = "message" + (kind ? " " + kind : "");
  }

  function refreshIdle() { idle.hidden = cards.size > 0; }

  function fact(label, value, cls) {
    if (value == null || value === "") return [];
    return [el("span", {}, label), el("span", { class: cls || "" }, value)];
  }

  function entries(title, list) {
    if (!list || list.length === 0) return [];
    return [el("div", {}, el("strong", {}, title), el("ul", {},
      ...list.slice(0, 5).map((e) => el("li", {}, [e.number, e.date, money(e.amount), e.status].filter(Boolean).join(" · "))))) ];
  }

  function clientBlock(c) {
    return el("div", { class: "client", "data-client": c.client },
      el("div", { class: "name" }, c.name, " ", c.stop_list ? el("span", { class: "stop" }, "СТОП-ЛИСТ") : ""),
      el("div", { class: "facts" },
        ...fact("Менеджер", c.manager),
        ...fact("Сегмент", c.segment),
        ...fact("Долг", money(c.debt), c.over_limit ? "warn" : ""),
        ...fact("Просрочено", money(c.overdue), "warn"),
        ...fact("Кредитный лимит", money(c.credit_limit))),
      ...entries("Заказы", c.orders),
      ...entries("Отгрузки", c.shipments),
      ...entries("Оплаты", c.payments),
      c.enriched ? "" : el("div", { class: "state" }, "данные из локальной базы"));
  }

  function leadForm(call, number) {
    const form = el("form", { class: "lead" },
      el("input", { name: "name", placeholder: "Имя или компания" }),
      el("textarea", { name: "comment", rows: "2", placeholder: "Комментарий" }),
      el("button", { type: "submit", class: "primary" }, "Новый лид"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const saved = await api("POST", "/api/v1/operator/leads", { phone: number, name: form.name.value, comment: form.comment.value, call });
        const text = saved && saved.crm === "online" ? "Лид отправлен в CRM" : "Лид сохранён, будет отправлен в CRM, когда она станет доступна";
        form.replaceWith(el("div", { class: "message ok" }, text));
      } catch (err) { say(err.message, "error"); }
    });
    return form;
  }

  function body(d) {
    if (d.cards && d.cards.length) return d.cards.map(clientBlock);
    const number = d.caller || "";
    // A colleague calling from another extension is not a lead.
    if (d.direction === "internal") return [el("div", { class: "client" }, el("div", { class: "name" }, "Внутренний звонок " + number))];
    return [el("div", { class: "client" }, el("div", { class: "name" }, number ? "Неизвестный номер" : "Номер скрыт")),
      number && d.e164 ? leadForm(d.call, number) : ""];
  }

  function show(d) {
    const card = el("section", { class: "call", "data-call": d.call },
      el("div", { class: "state" }, "Звонит на " + d.extension),
      el("div", { class: "number" }, d.e164 || d.caller || "номер скрыт"),
      el("div", { class: "cards" }, ...body(d)));
    const old = cards.get(d.call);
    if (old) old.replaceWith(card); else calls.prepend(card);
    cards.set(d.call, card);
    refreshIdle();
  }

  function close(call) {
    const card = cards.get(call);
    if (card) card.remove();
    cards.delete(call);
    refreshIdle();
  }

  function onEvent(name, d) {
    switch (name) {
      case "hello":
        document.getElementById("who").textContent = d.operator;
        document.getElementById("extensions").textContent = d.extensions.length ? "внутр. " + d.extensions.join(", ") : "нет внутренних номеров";
        break;
      case "ringing": show(d); break;
      case "card": {
        const card = cards.get(d.call);
        if (card) card.querySelector(".cards").replaceChildren(...body(d));
        break;
      }
      case "answered":
        if (d.mine) {
          const card = cards.get(d.call);
          if (card) { card.classList.add("answered"); card.querySelector(".state").textContent = "Разговор (" + d.extension + ")"; }
        } else {
          close(d.call);
        }
        break;
      case "stopped": case "ended": close(d.call); break;
      case "resync": location.reload(); break;
    }
  }

  function onState(connected, why) {
    const link = document.getElementById("link");
    link.className = "badge " + (connected ? "on" : "off");
    link.textContent = connected ? "на связи" : "нет связи";
    if (why === "unauthorized") { Storeterm.rejected(); }
  }

  document.getElementById("logout").addEventListener("click", Storeterm.logout);
  Storeterm.requireLogin(document.getElementById("login"), () => follow("/api/v1/operator/events", onEvent, onState));
})();
