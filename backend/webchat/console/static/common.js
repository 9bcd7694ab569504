/* The agent console's shared part (both pages): the API client with the cookie session and
   CSRF header, silent refresh, texts, toasts, the customer search, presence, the help dialog
   and the global shortcuts. Data is always inserted with textContent, never as HTML. */
"use strict";

const PD = (() => {
  const texts = JSON.parse(document.getElementById("console-texts").textContent);
  const body = document.body;
  const me = {
    id: Number(body.dataset.userId),
    name: body.dataset.userName,
    role: body.dataset.role,
    locale: body.dataset.locale || "ru",
  };

  function t(key, args) {
    let text = texts[key] || key;
    for (const [name, value] of Object.entries(args || {})) {
      text = text.split("{" + name + "}").join(String(value));
    }
    return text;
  }

  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [k, ...v] = part.trim().split("=");
      if (k === name) return decodeURIComponent(v.join("="));
    }
    return "";
  }

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.detail) || "HTTP " + status);
      this.status = status;
      this.code = body && body.error;
      this.body = body || {};
    }
  }

  let refreshing = null;
  function refreshSession() {
    // One refresh at a time: every 401 of a burst waits for the same one.
    if (!refreshing) {
      refreshing = fetch("/agent/refresh", {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": cookie("pd_csrf") },
      })
        .then((r) => r.ok)
        .catch(() => false)
        .finally(() => setTimeout(() => (refreshing = null), 0));
    }
    return refreshing;
  }

  function sessionEnded() {
    const banner = document.getElementById("session-banner");
    if (banner) {
      banner.textContent = t("console-session-ended");
      banner.hidden = false;
    }
    setTimeout(() => (window.location.href = "/agent/login"), 800);
  }

  /* options.headers: extra request headers (e.g. Idempotency-Key). */
  async function api(method, path, data, options) {
    options = options || {};
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (method !== "GET") headers["X-CSRF-Token"] = cookie("pd_csrf");
    if (data !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch("/api/v1" + path, {
        method,
        headers,
        credentials: "same-origin",
        body: data === undefined ? undefined : JSON.stringify(data),
      });
    } catch (err) {
      toast(t("console-error-network"), true);
      throw new ApiError(0, { error: "network", detail: String(err) });
    }
    if (response.status === 401 && !options.retried) {
      if (await refreshSession()) return api(method, path, data, { ...options, retried: true });
      sessionEnded();
    }
    let payload = null;
    if (response.status !== 204) {
      try {
        payload = await response.json();
      } catch (err) {
        payload = null;
      }
    }
    if (!response.ok) throw new ApiError(response.status, payload);
    return payload;
  }

  /* A random key for Idempotency-Key (getRandomValues works outside secure contexts too). */
  function randomKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  let toastTimer = null;
  function toast(text, isError) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = text;
    box.classList.toggle("error", Boolean(isError));
    box.classList.add("shown");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => box.classList.remove("shown"), 4000);
  }

  function failed(err) {
    toast((err && err.body && err.body.detail && typeof err.body.detail === "string"
      ? err.body.detail : t("console-error-generic")), true);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function money(minor, currency) {
    if (minor === null || minor === undefined) return "—";
    const sign = minor < 0 ? "-" : "";
    const abs = Math.abs(minor);
    const major = Math.floor(abs / 100);
    const cents = String(abs % 100).padStart(2, "0");
    return `${sign}${major.toLocaleString(me.locale)}.${cents} ${currency || ""}`.trim();
  }

  /* "1500.50" / "1500,5" / "1 500" -> 150050 minor units, integer arithmetic only. */
  function parseAmount(text) {
    const clean = String(text || "").replace(/[\s\u00a0]/g, "").replace(",", ".");
    const m = /^(\d{1,10})(?:\.(\d{1,2}))?$/.exec(clean);
    if (!m) return null;
    const minor = Number(m[1]) * 100 + Number((m[2] || "0").padEnd(2, "0"));
    return minor > 0 ? minor : null;
  }

  function when(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return d.toLocaleString(me.locale, { dateStyle: "short", timeStyle: "short" });
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const mm = String(m).padStart(2, "0");
    const ss = String(s).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
  }

  function typingTarget(event) {
    const target = event.target;
    return target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  /* --- the customer card (both pages) ------------------------------------------------ */

  function row(dl, label, value) {
    dl.append(el("dt", { text: label }), el("dd", { text: value === null || value === undefined || value === "" ? "—" : value }));
  }

  function renderCard(card, options) {
    const box = document.getElementById("card");
    box.replaceChildren();
    if (!card) {
      box.append(el("p", { class: "muted", text: t("console-card-none") }));
      return;
    }
    options = options || {};
    box.append(el("h3", { class: "card-name", "data-testid": "card-name", text: card.full_name }));
    const dl = el("dl", { class: "facts" });
    row(dl, t("console-card-contract"), card.contract_number);
    row(dl, t("console-card-status"), card.status);
    row(dl, t("console-card-balance"), money(card.balance, card.currency));
    row(dl, t("console-card-days-left"), card.days_left);
    row(dl, t("console-card-tariff"), card.tariff ? `${card.tariff.name} · ${card.tariff.speed_down_mbps}/${card.tariff.speed_up_mbps}` : null);
    row(dl, t("console-card-promised"), card.promised_payment ? `${money(card.promised_payment.amount, card.currency)} → ${when(card.promised_payment.expires_at)}` : null);
    row(dl, t("console-card-freeze"), card.freeze ? `${card.freeze.start_on} – ${card.freeze.end_on} (${card.freeze.status})` : null);
    if (card.phone) row(dl, "☎", card.phone);
    if (card.email) row(dl, "@", card.email);
    box.append(dl);

    const section = (title, items, render) => {
      if (!items || !items.length) return;
      box.append(el("h4", { text: title }));
      const ul = el("ul", { class: "card-list" });
      for (const item of items) ul.append(render(item));
      box.append(ul);
    };
    section(t("console-card-tickets"), card.open_tickets, (x) =>
      el("li", {}, el("a", { href: `/agent/tickets#${x.id}`, text: `#${x.id} ${x.subject}` }), ` · ${x.status}`));
    section(t("console-card-payments"), card.recent_payments, (x) =>
      el("li", { text: `${money(x.amount, x.currency)} · ${x.status} · ${when(x.created_at)}` }));
    section(t("console-card-documents"), card.documents, (x) => {
      const li = el("li", {}, `${x.title} (${x.period})`);
      if (options.onSendDocument) {
        li.append(" ", el("button", {
          type: "button", class: "ghost small", "data-testid": "send-document",
          text: t("console-card-send-document"), onclick: () => options.onSendDocument(x),
        }));
      }
      return li;
    });
    section(t("console-card-channels"), card.channels, (x) =>
      el("li", { text: `${t("console-channel-" + x.channel) || x.channel}${x.external_id ? " · " + x.external_id : ""}` }));
    section(t("console-card-notifications"), card.notifications, (x) =>
      el("li", {
        class: "delivery delivery-" + x.status, "data-testid": "delivery",
        title: x.error || "",
        text: `${x.kind} · ${t("console-channel-" + x.channel) || x.channel} · ${t("console-delivery-" + x.status) || x.status} · ${when(x.sent_at || x.created_at)}`,
      }));
    section(t("console-conversations-of"), card.conversations, (x) => {
      const li = el("li", {});
      li.append(el("a", {
        href: `/agent#conversation-${x.id}`, text: `#${x.id} · ${t("console-channel-" + x.channel)} · ${t("console-state-" + String(x.state).replace("_", "-"))}`,
        onclick: (e) => {
          if (options.onOpenConversation) {
            e.preventDefault();
            options.onOpenConversation(x.id);
          }
        },
      }));
      return li;
    });
  }

  /* --- search --------------------------------------------------------------------------- */

  function setupSearch(onPick) {
    const input = document.getElementById("customer-search");
    const list = document.getElementById("search-results");
    let timer = null;
    let seq = 0;
    const close = () => { list.hidden = true; list.replaceChildren(); };
    input.addEventListener("input", () => {
      clearTimeout(timer);
      const q = input.value.trim();
      if (q.length < 2) { close(); return; }
      timer = setTimeout(async () => {
        const mine = ++seq;
        let found;
        try {
          found = await api("GET", "/agent/customers/search?q=" + encodeURIComponent(q));
        } catch (err) { failed(err); return; }
        if (mine !== seq) return;
        list.replaceChildren();
        if (!found.items.length) list.append(el("li", { class: "muted", text: t("console-search-empty") }));
        for (const hit of found.items) {
          list.append(el("li", { role: "option", tabindex: "0", "data-testid": "search-hit",
            onclick: () => { close(); input.value = ""; onPick(hit); },
            onkeydown: (e) => { if (e.key === "Enter") { close(); input.value = ""; onPick(hit); } },
          }, el("strong", { text: hit.full_name }), ` · ${hit.contract_number}`, hit.phone ? ` · ${hit.phone}` : ""));
        }
        list.hidden = false;
      }, 250);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") { close(); input.blur(); }
      if (e.key === "ArrowDown" && !list.hidden) { const first = list.querySelector("[role=option]"); if (first) first.focus(); }
    });
    document.addEventListener("click", (e) => { if (!e.target.closest(".search")) close(); });
  }

  /* --- presence ------------------------------------------------------------------------- */

  const PRESENCE_KEY = "pd-console-presence";
  function setupPresence() {
    const select = document.getElementById("presence");
    select.value = localStorage.getItem(PRESENCE_KEY) === "away" ? "away" : "online";
    const beat = () => api("PUT", "/agent/presence", { status: select.value }).catch(() => {});
    select.addEventListener("change", () => { localStorage.setItem(PRESENCE_KEY, select.value); beat(); });
    beat();
    setInterval(beat, 30000);
    // Sign-out: offline first (the server does it too), then the form posts with its token.
    const form = document.getElementById("logout-form");
    form.addEventListener("submit", () => {
      form.querySelector("[data-csrf]").value = cookie("pd_csrf");
    });
    // Refresh the access cookie before it expires, so a quiet page never meets a 401.
    setInterval(() => refreshSession(), 8 * 60 * 1000);
  }

  /* --- shortcuts ------------------------------------------------------------------------ */

  let pendingG = 0;
  const handlers = {};
  function setupShortcuts(pageHandlers) {
    Object.assign(handlers, pageHandlers || {});
    const help = document.getElementById("help-dialog");
    document.getElementById("help-button").addEventListener("click", () => help.showModal());
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") return; // dialogs close themselves
      if (e.ctrlKey && e.key === "Enter" && handlers.send) { e.preventDefault(); handlers.send(); return; }
      if (e.ctrlKey || e.metaKey || e.altKey || typingTarget(e) || document.querySelector("dialog[open]")) return;
      const now = Date.now();
      if (pendingG && now - pendingG < 1200) {
        pendingG = 0;
        if (e.key === "t") { window.location.href = "/agent/tickets"; return; }
        if (e.key === "c") { window.location.href = "/agent"; return; }
      }
      if (e.key === "g") { pendingG = now; return; }
      if (e.key === "?") { e.preventDefault(); help.showModal(); return; }
      if (e.key === "s") { e.preventDefault(); document.getElementById("customer-search").focus(); return; }
      const handler = handlers[e.key];
      if (handler) { e.preventDefault(); handler(); }
    });
    for (const dialog of document.querySelectorAll("dialog")) {
      for (const button of dialog.querySelectorAll("[data-close]")) button.addEventListener("click", () => dialog.close());
    }
  }

  return {
    me, t, api, ApiError, el, toast, randomKey, failed, money, parseAmount, when, duration, cookie,
    renderCard, setupSearch, setupPresence, setupShortcuts, refreshSession, sessionEnded,
  };
})();
