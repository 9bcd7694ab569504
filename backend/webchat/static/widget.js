/* provider-desk web chat widget: one dependency-free script, no build step.
   Protocol: docs/webchat-protocol.md; embedding and behaviour: docs/widget.md.
   The server fills in STRINGS (the widget- texts of locales/ru and locales/en, and a few error texts) when it serves it. */
(function () {
  "use strict";
  if (window.ProviderDesk && window.ProviderDesk.version) return; // embedded twice

  var STRINGS = /*PD_STRINGS*/{};
  var script = document.currentScript || (function () {
    var all = document.querySelectorAll("script[src*='widget.js']");
    return all[all.length - 1];
  })();
  var ds = (script && script.dataset) || {};
  var server = (ds.server || new URL(script.src, location.href).origin).replace(/\/+$/, "");
  var lang = pickLocale(ds.locale || document.documentElement.lang || navigator.language);
  var color = /^#(?:[0-9a-f]{3}){1,2}$/i.test(ds.color || "") ? ds.color : "#0b5cab";
  var side = ds.position === "left" ? "left" : "right";
  var MAX_FILE = 5 * 1024 * 1024; // WEBCHAT_MAX_FILE_BYTES's default; the server has the last word
  var FILE_TYPES = ["image/jpeg", "image/png", "image/webp", "image/gif", "application/pdf", "text/plain"];
  var PING_MS = 25000;
  var keyBase = "pd:" + server + ":";
  var store = safeStorage("localStorage");
  var tabStore = safeStorage("sessionStorage");

  function pickLocale(value) {
    var short = String(value || "").slice(0, 2).toLowerCase();
    return STRINGS[short] ? short : (STRINGS.ru ? "ru" : Object.keys(STRINGS)[0] || "ru");
  }
  function T(key, args) {
    var text = (STRINGS[lang] || {})[key] || (STRINGS.ru || {})[key] || key;
    return text.replace(/\{(\w+)\}/g, function (all, name) {
      return args && args[name] != null ? String(args[name]) : all;
    });
  }
  function safeStorage(name) {
    try {
      var s = window[name];
      s.setItem("pd:probe", "1");
      s.removeItem("pd:probe");
      return s;
    } catch (e) { // private mode, blocked storage: keep it in memory
      var mem = {};
      return {
        getItem: function (k) { return k in mem ? mem[k] : null; },
        setItem: function (k, v) { mem[k] = String(v); },
        removeItem: function (k) { delete mem[k]; }
      };
    }
  }
  function get(k) { return store.getItem(keyBase + k); }
  function put(k, v) { if (v == null) store.removeItem(keyBase + k); else store.setItem(keyBase + k, v); }
  function tabGet(k) { return tabStore.getItem(keyBase + k); }
  function tabPut(k, v) { if (v == null) tabStore.removeItem(keyBase + k); else tabStore.setItem(keyBase + k, v); }

  // --- colours: the brand colour with white or black text, whichever contrasts more ----------
  function luminance(hex) {
    var h = hex.slice(1);
    if (h.length === 3) h = h[0] + h[0] + h[1] + h[1] + h[2] + h[2];
    var c = [0, 2, 4].map(function (i) {
      var v = parseInt(h.slice(i, i + 2), 16) / 255;
      return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }
  var L = luminance(color);
  // contrast with white (L=1) against contrast with black (L=0): one of them is always >= 4.58
  var onBrand = (1.05 / (L + 0.05)) >= ((L + 0.05) / 0.05) ? "#ffffff" : "#000000";

  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".launcher,.panel{position:fixed;z-index:2147483000;" + side + ":20px}",
    ".launcher{bottom:20px;width:60px;height:60px;border-radius:50%;border:0;cursor:pointer;",
    "background:" + color + ";color:" + onBrand + ";box-shadow:0 4px 14px rgba(0,0,0,.3)}",
    ".launcher svg{width:28px;height:28px;fill:currentColor}",
    ".icon svg{width:20px;height:20px;fill:currentColor;vertical-align:middle}",
    ".launcher .dot{position:absolute;top:6px;right:6px;width:12px;height:12px;border-radius:50%;",
    "background:#c8102e;border:2px solid #fff}",
    ".panel{bottom:90px;width:380px;height:min(620px,calc(100vh - 110px));display:flex;",
    "flex-direction:column;background:#fff;color:#1b1f24;border-radius:14px;overflow:hidden;",
    "box-shadow:0 8px 30px rgba(0,0,0,.3);font-size:15px;line-height:1.4}",
    "[hidden]{display:none!important}",
    "header{background:" + color + ";color:" + onBrand + ";padding:10px 12px;display:flex;",
    "align-items:center;gap:8px}",
    "header .who{flex:1;min-width:0}",
    "h2{font-size:17px;margin:0;font-weight:600}",
    ".status{font-size:13px;margin:0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    "header button{background:transparent;color:inherit;border:1px solid currentColor;",
    "border-radius:8px;padding:5px 9px;font-size:14px;cursor:pointer}",
    "header button.x{border:0;font-size:22px;line-height:1;padding:2px 8px}",
    "header :focus-visible{outline:3px solid " + onBrand + ";outline-offset:2px}",
    ":focus-visible{outline:3px solid #1b1f24;outline-offset:2px}",
    ".launcher:focus-visible{outline:3px solid #1b1f24;outline-offset:3px}",
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;",
    "background:#f4f5f7}",
    ".msg{max-width:85%;padding:8px 11px;border-radius:12px;background:#fff;",
    "border:1px solid #d5d9e0;white-space:pre-wrap;overflow-wrap:anywhere;align-self:flex-start}",
    ".msg.customer{align-self:flex-end;background:" + color + ";color:" + onBrand + ";border-color:" + color + "}",
    ".msg.system{align-self:center;background:#fff4d6;border-color:#e6c66b;font-size:14px;text-align:center}",
    ".msg.error{align-self:center;background:#fde8e8;border-color:#d64545;color:#7a1010;font-size:14px}",
    ".msg .meta{font-size:12px;display:block;margin-top:2px;opacity:.9}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    ".buttons{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}",
    ".buttons button,.act{background:#fff;color:#1b1f24;border:2px solid " + color + ";border-radius:16px;",
    "padding:5px 11px;font-size:14px;cursor:pointer;text-decoration:none;display:inline-block}",
    ".act.pay{background:" + color + ";color:" + onBrand + "}",
    ".typing{font-size:13px;color:#4a525e;padding:2px 14px;min-height:20px;background:#f4f5f7}",
    "form.compose{display:flex;gap:6px;padding:8px;border-top:1px solid #d5d9e0;background:#fff}",
    "form.compose input[type=text]{flex:1;min-width:0;border:1px solid #8a929e;border-radius:10px;",
    "padding:9px 10px;font-size:16px;color:#1b1f24}",
    ".icon{background:#fff;border:1px solid #8a929e;border-radius:10px;width:42px;cursor:pointer;",
    "color:#1b1f24;font-size:18px}",
    ".send{background:" + color + ";color:" + onBrand + ";border:0;border-radius:10px;padding:0 14px;",
    "font-size:15px;cursor:pointer}",
    ".sheet{padding:16px;overflow-y:auto;flex:1;display:flex;flex-direction:column;gap:10px}",
    ".sheet h3{margin:0;font-size:16px}",
    ".sheet p{margin:0}",
    ".sheet label{display:flex;flex-direction:column;gap:4px;font-size:14px}",
    ".sheet label.check{flex-direction:row;align-items:flex-start;gap:8px}",
    ".sheet input[type=text],.sheet input[type=password]{border:1px solid #8a929e;border-radius:8px;",
    "padding:9px;font-size:16px;color:#1b1f24}",
    ".sheet a{color:#0a4a8f}",
    ".sheet .row{display:flex;gap:8px}",
    ".sheet .row button{flex:1;padding:10px;border-radius:10px;font-size:15px;cursor:pointer}",
    ".primary{background:" + color + ";color:" + onBrand + ";border:0}",
    ".secondary{background:#fff;color:#1b1f24;border:1px solid #8a929e}",
    ".problem{color:#a11212;font-size:14px}",
    "@media (max-width:480px){.panel{left:0;right:0;top:0;bottom:0;width:100%;height:100%;border-radius:0}}"
  ].join("\n");

  // --- the DOM (in a Shadow DOM, so the host page's CSS cannot reach it) -------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "on") for (var ev in attrs.on) node.addEventListener(ev, attrs.on[ev]);
      else if (attrs[k] === true) node.setAttribute(k, "");
      else if (attrs[k] != null && attrs[k] !== false) node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  var host = el("div", { id: "provider-desk-widget" });
  var root = host.attachShadow({ mode: "open" });
  try { // constructable sheets are not blocked by a host page's style-src CSP
    var sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } catch (e) {
    root.appendChild(el("style", { text: CSS }));
  }
  var ICON = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';
  var CLIP = '<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z"/></svg>';
  var launcher = el("button", { "class": "launcher", type: "button", "aria-label": T("widget-open"),
    "aria-expanded": "false", "aria-controls": "pd-panel" });
  launcher.innerHTML = ICON; // a constant, never data
  var dot = el("span", { "class": "dot", hidden: true });
  launcher.appendChild(dot);
  var statusLine = el("p", { "class": "status", text: T("widget-connecting") });
  var signBtn = el("button", { type: "button", "class": "sign", text: T("widget-sign-in") });
  var closeBtn = el("button", { type: "button", "class": "x", "aria-label": T("widget-close"), text: "×" });
  var log = el("div", { "class": "log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
    "aria-label": T("widget-messages"), tabindex: "0" });
  var typing = el("div", { "class": "typing", "aria-hidden": "true" });
  var input = el("input", { type: "text", id: "pd-input", maxlength: "2000", autocomplete: "off",
    placeholder: T("widget-input-placeholder") });
  var fileInput = el("input", { type: "file", hidden: true, tabindex: "-1",
    accept: FILE_TYPES.join(",") + ",.jpg,.jpeg,.png,.webp,.gif,.pdf,.txt" });
  var attachBtn = el("button", { type: "button", "class": "icon attach", "aria-label": T("widget-attach") });
  attachBtn.innerHTML = CLIP; // a constant, never data
  var compose = el("form", { "class": "compose" }, [
    el("label", { "for": "pd-input", "class": "sr", text: T("widget-input-label") }),
    attachBtn, fileInput, input,
    el("button", { type: "submit", "class": "send", text: T("widget-send") })
  ]);
  var sheetBox = el("div", { "class": "sheet", hidden: true });
  var panel = el("section", { "class": "panel", id: "pd-panel", role: "dialog", "aria-label": ds.title || T("widget-title"), hidden: true }, [
    el("header", {}, [
      el("div", { "class": "who" }, [el("h2", { text: ds.title || T("widget-title") }), statusLine]),
      signBtn, closeBtn
    ]),
    log, sheetBox, typing, compose
  ]);
  root.appendChild(launcher);
  root.appendChild(panel);

  // --- state --------------------------------------------------------------------------------
  var ws = null;
  var session = null; // {token, until}
  var attempt = 0;
  var retryTimer = null;
  var pingTimer = null;
  var refused = false;
  var ready = false;
  var consented = false;
  var policyUrl = null;
  var shown = {}; // seq -> true
  var maxSeq = 0;
  var pending = []; // [{id, frame, node}] until acked, re-sent after a reconnect
  var bubbles = {}; // client_msg_id -> node of the visitor's own message
  var identity = null; // {access, refresh} kept in sessionStorage: a reload re-identifies
  var afterConsent = null;
  var lastTyping = 0;
  var typingTimer = null;
  try { identity = JSON.parse(tabGet("identity") || "null"); } catch (e) { identity = null; }

  function setStatus(text) { statusLine.textContent = text; }

  // --- the connection -----------------------------------------------------------------------
  function api(path, options) {
    return fetch(server + path, options || {});
  }
  function jsonPost(path, body, headers) {
    return api(path, { method: "POST", headers: Object.assign({ "Content-Type": "application/json" }, headers || {}),
      body: JSON.stringify(body) });
  }

  function newSession() {
    var visitor = get("visitor");
    return jsonPost("/api/v1/webchat/session", visitor ? { visitor_token: visitor } : {}).then(function (r) {
      if (r.status === 422 && visitor) { // a token the server no longer reads: start afresh
        put("visitor", null);
        return newSession();
      }
      if (!r.ok) throw new Error("session " + r.status);
      return r.json().then(function (d) {
        put("visitor", d.visitor_token);
        session = { token: d.session_token, until: Date.now() + (d.expires_in - 15) * 1000 };
        return session;
      });
    });
  }

  function connect() {
    if (ws || refused) return;
    clearTimeout(retryTimer);
    var s = session && session.until > Date.now() ? Promise.resolve(session) : newSession();
    ws = { pending: true }; // a placeholder: no second connect while the session is asked for
    s.then(function (sess) {
      var sock = new WebSocket(server.replace(/^http/, "ws") + "/ws/chat");
      ws = sock;
      sock.onopen = function () {
        sock.send(JSON.stringify({ type: "auth", session_token: sess.token, locale: lang }));
      };
      sock.onmessage = function (e) {
        var f;
        try { f = JSON.parse(e.data); } catch (x) { return; }
        if (sock === ws) onFrame(f);
      };
      sock.onclose = function (e) { if (sock === ws) dropped(e.code); };
    }).catch(function () { ws = null; retry(); });
  }

  function dropped(code) {
    ws = null;
    ready = false;
    clearInterval(pingTimer);
    showTyping(null);
    if (code === 4403) { // this page's origin is not allowed: retrying cannot help
      refused = true;
      setStatus(T("widget-origin-refused"));
      notice(T("widget-origin-refused"), "error");
      return;
    }
    if (code === 4401) session = null; // expired or refused session token: ask for a new one
    retry();
  }

  function retry() {
    setStatus(T("widget-reconnecting"));
    // 1 s, 2 s, 4 s ... 30 s, each with up to half of it as jitter so tabs do not stampede
    var base = Math.min(30000, 1000 * Math.pow(2, attempt));
    attempt += 1;
    retryTimer = setTimeout(connect, base / 2 + Math.random() * base / 2);
  }

  function send(frame) {
    if (ws && ws.readyState === 1 && ready) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function onFrame(f) {
    switch (f.type) {
      case "ready":
        ready = true;
        attempt = 0;
        consented = !!f.consented;
        policyUrl = typeof f.policy_url === "string" && /^https?:/i.test(f.policy_url) ? f.policy_url : null;
        setStatus(identity && identity.name ? T("widget-signed-in-as", { name: identity.name }) : T("widget-online"));
        if (identity && identity.access) identifyNow();
        send({ type: "resume", last_seq: maxSeq });
        pending.forEach(function (p) { send(p.frame); });
        clearInterval(pingTimer);
        pingTimer = setInterval(function () { send({ type: "ping" }); }, PING_MS);
        break;
      case "ack":
        ackPending(f.client_msg_id, f.seq);
        break;
      case "message":
        render(f);
        break;
      case "error":
        onError(f);
        break;
      case "identified":
        if (identity) identity.name = f.name;
        keepIdentity();
        signBtn.textContent = T("widget-sign-out");
        setStatus(T("widget-signed-in-as", { name: f.name }));
        closeSheet();
        break;
      case "logged_out":
        if (f.reason !== "logout" && identity) notice(T("widget-session-ended"), "system");
        forgetIdentity();
        break;
      case "consented":
        consented = true;
        if (afterConsent) { var next = afterConsent; afterConsent = null; next(); }
        break;
      case "typing":
        if (f.from === "agent" || f.from === "bot") showTyping(f.on === false ? null : f);
        break;
    }
  }

  function onError(f) {
    var p = f.client_msg_id && findPending(f.client_msg_id);
    if (f.code === "rate_limited" && p) { // not run: the same id goes again a little later
      setTimeout(function () { if (findPending(p.id)) send(p.frame); }, 5000);
    } else if (p) {
      pending.splice(pending.indexOf(p), 1);
      if (p.node) meta(p.node, T("widget-failed"));
    }
    if (f.code === "consent_required") { openSheet("consent"); return; }
    if (f.code === "identify_token_invalid" || f.code === "identify_not_customer") {
      if (identity && identity.refresh && f.code === "identify_token_invalid") { refreshToken(); return; }
      forgetIdentity();
      if (sheetBox.hidden) notice(f.detail || T("widget-error-generic"), "error");
      else sheetProblem(f.detail);
      return;
    }
    notice(f.detail || T("widget-error-generic"), "error");
  }

  // --- sending ------------------------------------------------------------------------------
  function newId() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return "m" + Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function findPending(id) {
    for (var i = 0; i < pending.length; i++) if (pending[i].id === id) return pending[i];
    return null;
  }
  function ackPending(id, seq) {
    var p = findPending(id);
    if (p) {
      pending.splice(pending.indexOf(p), 1);
      if (p.node) { meta(p.node, ""); p.node.dataset.seq = seq; }
    }
  }
  function submit(fields, label) {
    var id = newId();
    var frame = Object.assign({ type: "message", client_msg_id: id }, fields);
    var node = bubble("customer", label);
    meta(node, T("widget-pending"));
    bubbles[id] = node;
    pending.push({ id: id, frame: frame, node: node });
    if (!send(frame)) connect();
  }

  compose.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    submit({ text: text }, text);
  });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (now - lastTyping > 2000 && input.value) { lastTyping = now; send({ type: "typing" }); }
  });
  attachBtn.addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () {
    var file = fileInput.files && fileInput.files[0];
    fileInput.value = "";
    if (file) upload(file);
  });

  function upload(file) {
    if (file.size > MAX_FILE) return notice(T("widget-file-too-large", { max: MAX_FILE / 1048576 }), "error");
    var type = file.type || (/\.txt$/i.test(file.name) ? "text/plain" : "");
    if (FILE_TYPES.indexOf(type) < 0) return notice(T("widget-file-type"), "error");
    var visitor = get("visitor");
    var go = visitor ? Promise.resolve() : newSession();
    setStatus(T("widget-uploading"));
    go.then(function () {
      var body = new FormData();
      body.append("file", file, file.name);
      return api("/api/v1/webchat/files", { method: "POST", headers: { "X-Visitor-Token": get("visitor") }, body: body });
    }).then(function (r) {
      if (!r.ok) return apiError(r).then(function (text) { notice(text, "error"); });
      return r.json().then(function (d) {
        var id = newId();
        var frame = { type: "message", client_msg_id: id, file_id: d.file_id };
        var node = bubble("customer", null);
        attachment(node, { file_id: d.file_id, filename: d.filename, size: d.size });
        meta(node, T("widget-pending"));
        bubbles[id] = node;
        pending.push({ id: id, frame: frame, node: node });
        if (!send(frame)) connect();
      });
    }).catch(function () {
      notice(T("widget-upload-failed"), "error");
    }).then(function () { if (ready) setStatus(T("widget-online")); });
  }

  // --- rendering ----------------------------------------------------------------------------
  var WHO = { customer: "widget-you", bot: "widget-bot", agent: "widget-agent", system: "widget-system" };
  function bubble(from, text) {
    var node = el("div", { "class": "msg " + (from === "customer" ? "customer" : from === "system" ? "system" : "") });
    node.appendChild(el("span", { "class": "sr", text: T(WHO[from] || "widget-system") + ": " }));
    if (text) node.appendChild(el("span", { "class": "text", text: text })); // text, never HTML
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
    if (panel.hidden && from !== "customer") dot.hidden = false;
    return node;
  }
  function meta(node, text) {
    var m = node.querySelector(".meta") || node.appendChild(el("span", { "class": "meta" }));
    m.textContent = text;
    m.hidden = !text;
  }
  function notice(text, cls) {
    var node = el("div", { "class": "msg " + cls, text: text });
    log.appendChild(node);
    log.scrollTop = log.scrollHeight;
    return node;
  }

  function render(f) {
    if (typeof f.seq !== "number" || shown[f.seq]) return; // already on screen: resume overlap
    shown[f.seq] = true;
    if (f.seq > maxSeq) {
      maxSeq = f.seq;
      if (maxSeq > Number(get("seq") || 0)) put("seq", maxSeq); // tells the other tabs
    }
    if (f.from === "customer") {
      var mine = f.client_msg_id && bubbles[f.client_msg_id];
      if (mine) { // this tab's own message coming back: already on screen
        ackPending(f.client_msg_id, f.seq);
        return;
      }
      var c = bubble("customer", f.kind === "attachment" ? f.text : f.text || f.payload);
      if (f.kind === "attachment") attachment(c, f);
      c.dataset.seq = f.seq;
      if (f.client_msg_id) bubbles[f.client_msg_id] = c;
      return;
    }
    showTyping(null);
    var from = f.from === "agent" ? "agent" : f.from === "bot" ? "bot" : "system";
    var node;
    if (f.kind === "handover") {
      node = bubble("system", f.text);
    } else if (f.kind === "document") {
      node = bubble(from, f.caption || null);
      var b = el("button", { type: "button", "class": "act", text: T("widget-download", { filename: f.filename || "PDF" }) });
      b.addEventListener("click", function () { downloadDocument(f); });
      node.appendChild(el("div", { "class": "buttons" }, [b]));
    } else if (f.kind === "payment") {
      node = bubble(from, f.text || null);
      if (typeof f.confirmation_url === "string" && /^https?:\/\//i.test(f.confirmation_url)) {
        node.appendChild(el("div", { "class": "buttons" }, [el("a", { "class": "act pay", href: f.confirmation_url,
          target: "_blank", rel: "noopener noreferrer", text: T("widget-pay", { amount: money(f.amount, f.currency) }) })]));
      }
    } else {
      node = bubble(from, f.text || null);
      if (f.kind === "attachment") attachment(node, f);
    }
    node.dataset.seq = f.seq;
    (f.buttons || []).forEach(function (row) {
      var box = el("div", { "class": "buttons" });
      (Array.isArray(row) ? row : [row]).forEach(function (btn) {
        if (!btn || typeof btn.payload !== "string") return;
        box.appendChild(el("button", { type: "button", text: btn.label, on: { click: function () {
          submit({ payload: btn.payload }, btn.label);
        } } }));
      });
      node.appendChild(box);
    });
  }

  function money(amount, currency) {
    try {
      var fmt = new Intl.NumberFormat(lang, { style: "currency", currency: currency || "RUB" });
      var digits = fmt.resolvedOptions().maximumFractionDigits;
      return fmt.format(amount / Math.pow(10, digits));
    } catch (e) {
      return (amount / 100).toFixed(2) + " " + (currency || "");
    }
  }

  function attachment(node, f) {
    var id = String(f.file_id || "").replace(/^web:/, "");
    var b = el("button", { type: "button", "class": "act", text: T("widget-download", { filename: f.filename || id }) });
    b.addEventListener("click", function () {
      fetchBlob("/api/v1/webchat/files/" + encodeURIComponent(id), { "X-Visitor-Token": get("visitor") || "" }, f.filename);
    });
    node.appendChild(el("div", { "class": "buttons" }, [b]));
  }

  function downloadDocument(f) {
    if (!identity || !identity.access) return openSheet(consented ? "login" : "consent", T("widget-download-sign-in"));
    var path = "/api/v1/documents/" + encodeURIComponent(f.document_id) + "/download";
    fetchBlob(path, { Authorization: "Bearer " + identity.access }, f.filename, function () {
      // an access token lives minutes: renew it once with the refresh token, then try again
      return refreshToken().then(function (ok) {
        if (ok) fetchBlob(path, { Authorization: "Bearer " + identity.access }, f.filename);
      });
    });
  }

  function fetchBlob(path, headers, filename, on401) {
    api(path, { headers: headers }).then(function (r) {
      if (r.status === 401 && on401) return on401();
      if (!r.ok) throw new Error(String(r.status));
      return r.blob().then(function (blob) {
        var url = URL.createObjectURL(blob);
        var a = el("a", { href: url, download: filename || "file" });
        root.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
      });
    }).catch(function () { notice(T("widget-download-failed"), "error"); });
  }

  function showTyping(f) {
    clearTimeout(typingTimer);
    if (!f) { typing.textContent = ""; return; }
    typing.textContent = f.from === "bot" ? T("widget-typing-bot")
      : f.name ? T("widget-typing-agent", { name: f.name }) : T("widget-typing-agent-anonymous");
    typingTimer = setTimeout(function () { typing.textContent = ""; }, 8000); // a lost "off"
  }

  // --- identification -----------------------------------------------------------------------
  function keepIdentity() { tabPut("identity", identity ? JSON.stringify(identity) : null); }
  function forgetIdentity() {
    identity = null;
    keepIdentity();
    signBtn.textContent = T("widget-sign-in");
    if (ready) setStatus(T("widget-online"));
  }
  function identify(access, refresh) {
    identity = { access: access, refresh: refresh || null };
    keepIdentity();
    if (ready) identifyNow();
    else connect(); // sent after `ready`, when the consent is known
  }
  function identifyNow() {
    if (consented) return send({ type: "identify", access_token: identity.access });
    // 152-FZ: consent comes before the customer's data is tied to the conversation
    afterConsent = function () { if (identity) send({ type: "identify", access_token: identity.access }); };
    openSheet("consent");
  }
  function refreshToken() {
    if (!identity || !identity.refresh) { forgetIdentity(); return Promise.resolve(false); }
    return jsonPost("/api/v1/auth/refresh", { refresh_token: identity.refresh }).then(function (r) {
      if (!r.ok) throw new Error();
      return r.json().then(function (t) {
        identity.access = t.access_token;
        identity.refresh = t.refresh_token;
        keepIdentity();
        send({ type: "identify", access_token: t.access_token });
        return true;
      });
    }).catch(function () {
      forgetIdentity();
      notice(T("widget-session-ended"), "system");
      return false;
    });
  }
  function signOut() {
    var held = identity;
    forgetIdentity();
    send({ type: "logout" });
    if (held && held.refresh) { // an in-chat sign-in: end its session on the server too
      jsonPost("/api/v1/auth/logout", { refresh_token: held.refresh }, { Authorization: "Bearer " + held.access })
        .catch(function () {});
    }
    notice(T("widget-signed-out"), "system");
  }

  function apiError(r) {
    return r.json().catch(function () { return {}; }).then(function (d) {
      var key = "error-" + String((d && d.error) || "").replace(/_/g, "-");
      return (STRINGS[lang] || {})[key] ? T(key) : T("widget-error-generic");
    });
  }

  var sheetProblemNode = null;
  function sheetProblem(text) { if (sheetProblemNode) sheetProblemNode.textContent = text || ""; }
  function closeSheet() {
    sheetBox.hidden = true;
    sheetBox.textContent = "";
    log.hidden = false;
    compose.hidden = false;
    input.focus();
  }
  function field(label, attrs) {
    var inp = el("input", attrs);
    return { label: el("label", {}, [el("span", { text: label }), inp]), input: inp };
  }
  function openSheet(step, reason) {
    openPanel();
    sheetBox.textContent = "";
    sheetBox.hidden = false;
    log.hidden = true;
    compose.hidden = true;
    sheetProblemNode = el("p", { "class": "problem", role: "alert" });
    var form = el("form", { "class": "sheet-form", novalidate: true });
    var first;
    var cancel = el("button", { type: "button", "class": "secondary", text: T("widget-cancel"), on: { click: function () {
      afterConsent = null;
      closeSheet();
    } } });
    function add(nodes) { nodes.forEach(function (n) { form.appendChild(n); }); }
    if (reason) add([el("p", { text: reason })]);
    if (step === "consent") {
      var box = el("input", { type: "checkbox", id: "pd-consent" });
      add([el("h3", { text: T("widget-consent-title") }), el("p", { text: T("widget-consent-text") }),
        el("label", { "class": "check", "for": "pd-consent" }, [box, el("span", { text: T("widget-consent-label") })])]);
      if (policyUrl) add([el("a", { href: policyUrl, target: "_blank", rel: "noopener noreferrer", text: T("widget-consent-policy") })]);
      first = box;
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        if (!box.checked) return sheetProblem(T("widget-consent-needed"));
        if (!afterConsent) afterConsent = function () { openSheet("login"); };
        if (!send({ type: "consent" })) sheetProblem(T("widget-reconnecting"));
      });
    } else if (step === "login") {
      var login = field(T("widget-login-label"), { type: "text", autocomplete: "username", required: true, maxlength: "254" });
      var pwd = field(T("widget-password-label"), { type: "password", autocomplete: "current-password", required: true, maxlength: "128" });
      add([el("h3", { text: T("widget-login-title") }), login.label, pwd.label]);
      first = login.input;
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        sheetProblem("");
        jsonPost("/api/v1/auth/login", { login: login.input.value.trim(), password: pwd.input.value }).then(function (r) {
          if (!r.ok) return apiError(r).then(sheetProblem);
          return r.json().then(function (d) {
            if (d.mfa_required) return openSheet("code", null, d.mfa_token);
            identify(d.tokens.access_token, d.tokens.refresh_token);
          });
        }).catch(function () { sheetProblem(T("widget-error-generic")); });
      });
    } else if (step === "code") {
      var mfa = arguments[2];
      var code = field(T("widget-code-label"), { type: "text", autocomplete: "one-time-code", required: true, maxlength: "32" });
      add([el("h3", { text: T("widget-code-title") }), code.label]);
      first = code.input;
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var v = code.input.value.replace(/\s/g, "");
        var body = /^\d{6}$/.test(v) ? { mfa_token: mfa, code: v } : { mfa_token: mfa, recovery_code: v };
        jsonPost("/api/v1/auth/2fa/verify", body).then(function (r) {
          if (!r.ok) return apiError(r).then(sheetProblem);
          return r.json().then(function (t) { identify(t.access_token, t.refresh_token); });
        }).catch(function () { sheetProblem(T("widget-error-generic")); });
      });
    }
    var submitLabel = step === "consent" ? "widget-continue" : step === "code" ? "widget-confirm" : "widget-sign-in-submit";
    add([sheetProblemNode, el("div", { "class": "row" }, [cancel, el("button", { type: "submit", "class": "primary", text: T(submitLabel) })])]);
    sheetBox.appendChild(form);
    first.focus();
  }

  signBtn.addEventListener("click", function () {
    if (identity && identity.access) return signOut();
    openSheet(consented ? "login" : "consent");
  });

  // --- opening and closing ------------------------------------------------------------------
  function openPanel() {
    if (!panel.hidden) return;
    panel.hidden = false;
    launcher.hidden = window.matchMedia("(max-width:480px)").matches; // under the full-screen panel
    launcher.setAttribute("aria-expanded", "true");
    dot.hidden = true;
    tabPut("open", "1");
    if (sheetBox.hidden) input.focus();
    if (greetingPending) { greetingPending = false; notice(ds.greeting, "system"); }
    connect();
  }
  function closePanel() {
    if (panel.hidden) return;
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute("aria-expanded", "false");
    tabPut("open", null);
    launcher.focus(); // focus goes back where the visitor opened the chat
  }
  var greetingPending = !!ds.greeting;
  launcher.addEventListener("click", function () { if (panel.hidden) openPanel(); else closePanel(); });
  closeBtn.addEventListener("click", closePanel);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { e.preventDefault(); closePanel(); } });
  // Another tab of this visitor saw a newer message (its own turn, say): catch up now rather
  // than at the next ping. The server only announces what an agent or a notice writes.
  window.addEventListener("storage", function (e) {
    if (e.key === keyBase + "seq" && Number(e.newValue) > maxSeq) send({ type: "ping" });
  });
  // back from the payment tab: catch up at once (the credited notice), not at the next ping
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !send({ type: "ping" }) && !panel.hidden) connect();
  });

  function mount() {
    document.body.appendChild(host);
    // a returning visitor: connect at once (unread answers light the dot); reopen after a reload
    if (tabGet("open")) openPanel();
    else if (get("visitor")) connect();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);

  window.ProviderDesk = {
    version: 1,
    open: openPanel,
    close: closePanel,
    identify: function (token) { if (typeof token === "string" && token) identify(token, null); },
    logout: function () { if (identity) signOut(); else send({ type: "logout" }); }
  };
})();
