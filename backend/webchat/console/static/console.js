/* The console page (/agent): the live queue and the agent's conversations, the transcript
   with the composer, the customer card; live through /ws/agent (docs/agent-console.md). */
"use strict";

(() => {
  const { me, t, api, el, toast, failed } = PD;
  const $ = (id) => document.getElementById(id);

  const state = {
    queue: [],          // waiting conversations, longest waiting first
    mine: [],           // the agent's own
    fetchedAt: 0,       // when the lists were read (waiting_seconds count from then)
    seenWaiting: null,  // ids already alerted (null until the first read)
    current: null,      // the open conversation's detail
    notes: [],
    card: null,
    agents: [],
    canned: [],
    socket: null,
    typingAt: 0,
    typingTimer: null,
    paymentKey: null,   // {id, amount, key} of a payment link not yet confirmed sent
  };

  /* --- alerts: a beep (WebAudio, no file) and a desktop notification ---------------------- */

  let audio = null;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.2, audio.currentTime + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.4);
    } catch (err) { /* no audio: the notification and the list still show it */ }
  }

  function alertWaiting(conv) {
    document.body.dataset.lastAlert = String(conv.id);
    beep();
    toast(t("console-new-waiting"));
    if ("Notification" in window && Notification.permission === "granted") {
      try {
        const n = new Notification(t("console-new-waiting"), {
          body: conv.customer_name || conv.last_message || t("console-new-waiting-body"),
          tag: "pd-conv-" + conv.id,
        });
        n.onclick = () => { window.focus(); openConversation(conv.id); };
      } catch (err) { /* some browsers refuse outside a user gesture */ }
    }
  }

  function setupNotifyButton() {
    const button = $("notify-button");
    if (!("Notification" in window) || Notification.permission !== "default") return;
    button.hidden = false;
    button.addEventListener("click", async () => {
      await Notification.requestPermission();
      button.hidden = true;
      if (audio === null) beep(); // unlocks audio after a user gesture
    });
  }

  /* --- the lists ------------------------------------------------------------------------- */

  async function loadLists() {
    let queue, mine;
    try {
      [queue, mine] = await Promise.all([
        api("GET", "/agent/conversations"),
        api("GET", "/agent/my-conversations").catch(() => api("GET", "/agent/conversations?state=agent")),
      ]);
    } catch (err) { return; }
    state.fetchedAt = Date.now();
    state.queue = queue.items.slice().sort((a, b) => (b.waiting_seconds || 0) - (a.waiting_seconds || 0));
    state.mine = mine.items;
    const fresh = state.queue.filter((c) => state.seenWaiting && !state.seenWaiting.has(c.id));
    state.seenWaiting = new Set([...(state.seenWaiting || []), ...state.queue.map((c) => c.id)]);
    for (const conv of fresh.slice(0, 3)) alertWaiting(conv);
    renderLists();
  }

  function waitingNow(conv) {
    if (conv.waiting_seconds === undefined) return (Date.now() - Date.parse(conv.updated_at)) / 1000;
    return conv.waiting_seconds + (Date.now() - state.fetchedAt) / 1000;
  }

  function listItem(conv, waiting) {
    const channel = t("console-channel-" + conv.channel);
    const title = conv.customer_name
      ? `${conv.customer_name}${conv.contract_number ? " · " + conv.contract_number : ""}`
      : `#${conv.id}`;
    const li = el("li", {
      class: "conv" + (state.current && state.current.conversation.id === conv.id ? " active" : ""),
      tabindex: "0", "data-conversation-id": conv.id, "data-testid": "conversation",
      "aria-current": state.current && state.current.conversation.id === conv.id ? "true" : null,
      onclick: () => openConversation(conv.id),
      onkeydown: (e) => { if (e.key === "Enter") openConversation(conv.id); },
    });
    li.append(el("div", { class: "conv-top" },
      el("span", { class: "channel channel-" + conv.channel, title: channel, text: channel }),
      el("strong", { class: "conv-name", text: title }),
      waiting ? el("span", { class: "waiting", "data-waiting": "1", text: PD.duration(waitingNow(conv)) }) : null,
      !waiting && conv.awaiting_reply ? el("span", { class: "dot", title: "…" }) : null,
    ));
    if (conv.last_message) li.append(el("div", { class: "conv-last", text: conv.last_message }));
    const slots = Object.entries(conv.slots || {}).filter(([, v]) => v !== null && v !== "" && typeof v !== "object");
    if (slots.length) {
      li.append(el("div", { class: "conv-slots", text: slots.slice(0, 4).map(([k, v]) => `${k}: ${v}`).join(" · ") }));
    }
    return li;
  }

  function renderLists() {
    const queue = $("queue");
    queue.replaceChildren(...state.queue.map((c) => listItem(c, true)));
    if (!state.queue.length) queue.append(el("li", { class: "muted", text: t("console-queue-empty") }));
    $("queue-count").textContent = String(state.queue.length);
    const mine = $("mine");
    mine.replaceChildren(...state.mine.map((c) => listItem(c, false)));
    if (!state.mine.length) mine.append(el("li", { class: "muted", text: t("console-mine-empty") }));
    document.title = (state.queue.length ? `(${state.queue.length}) ` : "") + document.title.replace(/^\(\d+\) /, "");
  }

  function tick() {
    for (const node of document.querySelectorAll("#queue [data-waiting]")) {
      const id = Number(node.closest("[data-conversation-id]").dataset.conversationId);
      const conv = state.queue.find((c) => c.id === id);
      if (conv) node.textContent = PD.duration(waitingNow(conv));
    }
  }

  /* --- one conversation ------------------------------------------------------------------ */

  async function openConversation(id) {
    let detail, notes;
    try {
      [detail, notes] = await Promise.all([
        api("GET", `/agent/conversations/${id}`),
        api("GET", `/agent/conversations/${id}/notes`).catch(() => ({ items: [] })),
      ]);
    } catch (err) { failed(err); return; }
    const switched = !state.current || state.current.conversation.id !== id;
    state.current = detail;
    state.notes = notes.items || [];
    if (switched) {
      $("typing").textContent = "";
      history.replaceState(null, "", `#conversation-${id}`);
    }
    renderConversation(switched);
    renderLists();
    watch();
    loadCard();
  }

  async function loadCard() {
    const customerId = state.current && state.current.conversation.customer_id;
    if (!customerId) { state.card = null; PD.renderCard(null); return; }
    try {
      state.card = await api("GET", `/agent/customers/${customerId}/card`);
    } catch (err) {
      state.card = null;
    }
    PD.renderCard(state.card, { onSendDocument: sendDocument, onOpenConversation: openConversation });
  }

  function isMine() {
    const c = state.current && state.current.conversation;
    return Boolean(c && c.state === "agent" && c.agent_id === me.id);
  }

  function renderConversation(switched) {
    const detail = state.current;
    const conv = detail.conversation;
    const name = detail.customer ? `${detail.customer.full_name} · ${detail.customer.contract_number}` : `#${conv.id}`;
    $("chat-title").textContent = `${name} · ${t("console-channel-" + conv.channel)}`;
    const badge = $("chat-state");
    badge.textContent = t("console-state-" + conv.state.replace("_", "-"));
    badge.dataset.state = conv.state;
    $("chat-actions").hidden = false;
    const mine = isMine();
    const admin = me.role === "admin";
    $("claim-button").hidden = conv.state !== "waiting_agent";
    $("release-button").hidden = !mine;
    $("close-button").hidden = !(mine || (admin && ["agent", "waiting_agent"].includes(conv.state)));
    $("ticket-button").hidden = !(mine || admin);
    $("transfer-button").hidden = !(mine || (admin && ["agent", "waiting_agent"].includes(conv.state)));
    $("composer").hidden = !(mine || conv.state === "agent" || conv.state === "waiting_agent");
    // Only the holder replies; everyone else writes notes.
    const toggle = $("note-toggle");
    if (switched || !mine) toggle.checked = !mine;
    toggle.disabled = !mine;
    renderSlots(detail.bot);
    renderTranscript(switched);
  }

  function renderSlots(bot) {
    const box = $("bot-details");
    const slots = Object.entries((bot && bot.slots) || {});
    box.hidden = !slots.length && !(bot && bot.flow);
    const dl = $("bot-slots");
    dl.replaceChildren();
    if (bot && bot.flow) dl.append(el("dt", { text: "flow" }), el("dd", { text: `${bot.flow}${bot.step ? " / " + bot.step : ""}` }));
    for (const [k, v] of slots) dl.append(el("dt", { text: k }), el("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) }));
  }

  function itemText(m) {
    const item = m.item || {};
    if (m.text) return m.text;
    if (item.text) return item.text;
    if (item.caption) return item.caption;
    return "";
  }

  function messageNode(m) {
    const who = { customer: t("console-from-customer"), bot: t("console-from-bot"),
      agent: t("console-from-agent"), system: t("console-from-system") }[m.sender] || m.sender;
    const li = el("li", { class: `msg from-${m.sender}`, "data-testid": "message", "data-sender": m.sender });
    li.append(el("div", { class: "meta" }, el("span", { class: "who", text: who }), el("time", { datetime: m.created_at, text: PD.when(m.created_at) })));
    const text = itemText(m);
    if (text) li.append(el("div", { class: "text", text }));
    const item = m.item || {};
    if (item.kind === "document" || item.document_id) {
      li.append(el("div", { class: "chip", text: `${t("console-document")}: ${item.filename || item.title || "#" + item.document_id}` }));
    }
    if (item.kind === "payment" || item.payment_public_id) {
      li.append(el("div", { class: "chip", text: `${t("console-payment")}: ${PD.money(item.amount, item.currency)}` }));
    }
    if (Array.isArray(item.buttons) && item.buttons.length) {
      li.append(el("div", { class: "buttons" }, ...item.buttons.flat().map((b) => el("span", { class: "chip", text: b.label || b.text || "" }))));
    }
    for (const a of m.attachments || []) {
      const label = `${t("console-attachment")}: ${a.filename || a.kind}`;
      li.append(a.url
        ? el("a", { class: "attachment", href: a.url, target: "_blank", rel: "noopener", "data-testid": "attachment", text: label })
        : el("span", { class: "attachment", text: label }));
    }
    return li;
  }

  function noteNode(n) {
    const li = el("li", { class: "msg note", "data-testid": "note" });
    li.append(el("div", { class: "meta" },
      el("span", { class: "who", text: `${t("console-note")} · ${n.author_name || ""}` }),
      el("time", { datetime: n.created_at, text: PD.when(n.created_at) })));
    li.append(el("div", { class: "text", text: n.text }));
    return li;
  }

  function renderTranscript(switched) {
    const log = $("transcript");
    const nearBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    const entries = [
      ...state.current.messages.map((m) => ({ at: m.created_at, node: () => messageNode(m) })),
      ...state.notes.map((n) => ({ at: n.created_at, node: () => noteNode(n) })),
    ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    log.replaceChildren(...entries.map((e) => e.node()));
    if (switched || nearBottom) log.scrollTop = log.scrollHeight;
  }

  /* --- actions -------------------------------------------------------------------------- */

  function currentId() { return state.current && state.current.conversation.id; }

  async function claim() {
    const id = currentId();
    if (!id || state.current.conversation.state !== "waiting_agent") return;
    try {
      await api("POST", `/agent/conversations/${id}/claim`);
      toast(t("console-claim-won"));
      $("note-toggle").checked = false;
    } catch (err) {
      if (err.status === 409) {
        await showTakenBy(id, err);
      } else failed(err);
    }
    await Promise.all([openConversation(id), loadLists()]);
    if (isMine()) $("reply").focus();
  }

  async function showTakenBy(id, err) {
    let name = err.body && (err.body.holder_name || err.body.agent_name);
    if (!name) {
      try {
        const [detail, agents] = await Promise.all([api("GET", `/agent/conversations/${id}`), loadAgents()]);
        const holder = agents.find((a) => a.id === detail.conversation.agent_id);
        name = holder && holder.display_name;
      } catch (e) { name = null; }
    }
    const text = name ? t("console-claimed-by", { name }) : t("console-claimed-by-unknown");
    toast(text, true);
    const banner = el("p", { class: "alert", role: "alert", "data-testid": "claim-refused", text });
    $("transcript").before(banner);
    setTimeout(() => banner.remove(), 8000);
  }

  async function loadAgents() {
    const found = await api("GET", "/agent/agents");
    state.agents = found.items || [];
    return state.agents;
  }

  async function send() {
    const id = currentId();
    const box = $("reply");
    const text = box.value.trim();
    if (!id || !text) return;
    const note = $("note-toggle").checked || !isMine();
    $("send-button").disabled = true;
    try {
      if (note) {
        await api("POST", `/agent/conversations/${id}/notes`, { text });
        toast(t("console-note-saved"));
      } else {
        await api("POST", `/agent/conversations/${id}/messages`, { text });
      }
      box.value = "";
      await openConversation(id);
    } catch (err) {
      failed(err);
    } finally {
      $("send-button").disabled = false;
      box.focus();
    }
  }

  async function sendDocument(doc) {
    const id = currentId();
    if (!id || !isMine()) return;
    try {
      await api("POST", `/agent/conversations/${id}/messages`, { document_id: doc.id });
      toast(t("console-sent"));
      await openConversation(id);
    } catch (err) { failed(err); }
  }

  async function release() {
    const id = currentId();
    if (!id || !isMine()) return;
    try {
      await api("POST", `/agent/conversations/${id}/release`);
      toast(t("console-released"));
    } catch (err) { failed(err); }
    await Promise.all([openConversation(id), loadLists()]);
  }

  function typing() {
    const id = currentId();
    if (!id || !isMine() || $("note-toggle").checked) return;
    const now = Date.now();
    if (now - state.typingAt < 3000) return;
    state.typingAt = now;
    api("POST", `/agent/conversations/${id}/typing`).catch(() => {});
  }

  function showCustomerTyping() {
    const box = $("typing");
    box.textContent = t("console-customer-typing");
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(() => (box.textContent = ""), 4000);
  }

  /* canned responses */
  async function openCanned() {
    const id = currentId();
    if (!id || !isMine()) return;
    const dialog = $("canned-dialog");
    try {
      const found = await api("GET", `/agent/canned-responses?locale=${encodeURIComponent((state.current.conversation.locale || me.locale))}`);
      state.canned = found.items || [];
    } catch (err) { failed(err); return; }
    $("canned-filter").value = "";
    renderCanned("");
    dialog.showModal();
    $("canned-filter").focus();
  }

  function renderCanned(filter) {
    const list = $("canned-list");
    const f = filter.toLowerCase();
    const items = state.canned.filter((c) => !f || c.title.toLowerCase().includes(f) || c.body.toLowerCase().includes(f));
    list.replaceChildren(...items.map((c) => el("li", {
      role: "option", tabindex: "0", "data-testid": "canned-item",
      onclick: () => useCanned(c), onkeydown: (e) => { if (e.key === "Enter") useCanned(c); },
    }, el("strong", { text: c.title }), el("span", { class: "muted", text: c.body }))));
    if (!items.length) list.append(el("li", { class: "muted", text: t("console-canned-empty") }));
  }

  async function useCanned(c) {
    $("canned-dialog").close();
    const id = currentId();
    try {
      await api("POST", `/agent/conversations/${id}/canned/${c.id}`);
      toast(t("console-sent"));
      await openConversation(id);
    } catch (err) { failed(err); }
  }

  /* dialogs: payment link, close, ticket, transfer */
  function openDialog(id, focus) {
    if (!currentId()) return;
    const dialog = $(id);
    dialog.showModal();
    if (focus) $(focus).focus();
  }

  async function submitPayment(e) {
    e.preventDefault();
    const amount = PD.parseAmount($("payment-amount").value);
    if (amount === null) { toast(t("console-amount-invalid"), true); return; }
    const id = currentId();
    // The endpoint requires Idempotency-Key: a retry of the same link (after a network error)
    // keeps its key, so the customer never gets two payments for one click.
    const pending = state.paymentKey;
    if (!pending || pending.id !== id || pending.amount !== amount) {
      state.paymentKey = { id, amount, key: PD.randomKey() };
    }
    try {
      await api("POST", `/agent/conversations/${id}/payment-link`, { amount },
        { headers: { "Idempotency-Key": state.paymentKey.key } });
      state.paymentKey = null;
      $("payment-dialog").close();
      $("payment-amount").value = "";
      toast(t("console-payment-sent"));
      await openConversation(id);
    } catch (err) { failed(err); }
  }

  async function submitClose(e) {
    e.preventDefault();
    const resolution = $("close-resolution").value.trim();
    if (!resolution) return;
    const id = currentId();
    try {
      await api("POST", `/agent/conversations/${id}/close`, { resolution });
      $("close-dialog").close();
      $("close-resolution").value = "";
      toast(t("console-closed"));
    } catch (err) { failed(err); }
    await Promise.all([openConversation(id), loadLists()]);
  }

  async function submitTicket(e) {
    e.preventDefault();
    const subject = $("ticket-subject").value.trim();
    if (subject.length < 3) return;
    const id = currentId();
    try {
      const ticket = await api("POST", `/agent/conversations/${id}/ticket`, { subject, category: $("ticket-category").value });
      $("ticket-dialog").close();
      $("ticket-subject").value = "";
      toast(`${t("console-ticket-made")} #${ticket.id}`);
    } catch (err) { failed(err); }
    await openConversation(id);
  }

  async function openTransfer() {
    if (!currentId()) return;
    let agents;
    try { agents = await loadAgents(); } catch (err) { failed(err); return; }
    const list = $("transfer-list");
    const others = agents.filter((a) => a.id !== me.id);
    list.replaceChildren(...others.map((a) => el("li", {},
      el("button", { type: "button", class: "pick", "data-testid": "transfer-to", onclick: () => transferTo(a) },
        el("span", { class: `presence-dot ${a.status}`, "aria-hidden": "true" }),
        `${a.display_name || "#" + a.id} · ${t("console-agent-" + a.status)}`))));
    if (!others.length) list.append(el("li", { class: "muted", text: t("console-transfer-none") }));
    $("transfer-dialog").showModal();
  }

  async function transferTo(agent) {
    const id = currentId();
    $("transfer-dialog").close();
    try {
      await api("POST", `/agent/conversations/${id}/transfer`, { agent_id: agent.id });
      toast(t("console-transferred"));
    } catch (err) { failed(err); }
    await Promise.all([openConversation(id), loadLists()]);
  }

  /* --- the socket ------------------------------------------------------------------------ */

  let backoff = 1000;
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/agent`);
    state.socket = ws;
    let pinger = null;
    ws.onopen = () => {
      backoff = 1000;
      document.body.dataset.live = "1";
      watch();
      pinger = setInterval(() => ws.readyState === 1 && ws.send(JSON.stringify({ type: "ping" })), 25000);
    };
    ws.onmessage = (message) => {
      let frame;
      try { frame = JSON.parse(message.data); } catch (err) { return; }
      if (frame.type === "ready") loadLists();
      else if (frame.type === "agents") onAgentsEvent(frame.event || {});
      else if (frame.type === "conv") onConversationEvent(frame.conversation_id, frame.event || {});
    };
    ws.onclose = async (event) => {
      clearInterval(pinger);
      document.body.dataset.live = "0";
      if (event.code === 4401) {
        // the session is over, or the access cookie expired: refresh, else sign in again
        if (!(await PD.refreshSession())) { PD.sessionEnded(); return; }
        setTimeout(connect, 100);
        return;
      }
      if (event.code === 4403) { toast(t("console-error-generic"), true); return; }
      setTimeout(connect, backoff + Math.random() * 500);
      backoff = Math.min(backoff * 2, 30000);
    };
  }

  function watch() {
    const ws = state.socket;
    if (!ws || ws.readyState !== 1) return;
    const ids = currentId() ? [currentId()] : [];
    ws.send(JSON.stringify({ type: "watch", conversation_ids: ids }));
  }

  let listTimer = null;
  function onAgentsEvent(event) {
    if (event.type === "resync" || event.type === "queue") {
      clearTimeout(listTimer);
      listTimer = setTimeout(loadLists, 150);
    }
    if (event.type === "queue" && currentId() === event.conversation_id) openConversation(event.conversation_id);
  }

  let convTimer = null;
  function onConversationEvent(id, event) {
    if (id !== currentId()) return;
    if (event.type === "typing") {
      if (event.from === "customer") showCustomerTyping();
      return;
    }
    $("typing").textContent = "";
    clearTimeout(convTimer);
    convTimer = setTimeout(() => { openConversation(id); loadLists(); }, 100);
  }

  /* --- keyboard: j/k move through both lists --------------------------------------------- */

  function move(step) {
    const ids = [...state.queue, ...state.mine].map((c) => c.id);
    if (!ids.length) return;
    const at = ids.indexOf(currentId());
    const next = ids[(at + step + ids.length) % ids.length];
    if (at === -1) openConversation(ids[0]); else openConversation(next);
    const node = document.querySelector(`[data-conversation-id="${next}"]`);
    if (node) node.focus();
  }

  /* --- start ----------------------------------------------------------------------------- */

  $("claim-button").addEventListener("click", claim);
  $("release-button").addEventListener("click", release);
  $("close-button").addEventListener("click", () => openDialog("close-dialog", "close-resolution"));
  $("ticket-button").addEventListener("click", () => openDialog("ticket-dialog", "ticket-subject"));
  $("transfer-button").addEventListener("click", openTransfer);
  $("canned-button").addEventListener("click", openCanned);
  $("payment-button").addEventListener("click", () => isMine() && openDialog("payment-dialog", "payment-amount"));
  $("payment-form").addEventListener("submit", submitPayment);
  $("close-form").addEventListener("submit", submitClose);
  $("ticket-form").addEventListener("submit", submitTicket);
  $("canned-filter").addEventListener("input", (e) => renderCanned(e.target.value));
  // Keyboard-only use: Enter in the filter sends the first match, ArrowDown walks the list.
  $("canned-filter").addEventListener("keydown", (e) => {
    const first = $("canned-list").querySelector("[data-testid=canned-item]");
    if (e.key === "Enter" && first) { e.preventDefault(); first.click(); }
    if (e.key === "ArrowDown" && first) { e.preventDefault(); first.focus(); }
  });
  $("canned-list").addEventListener("keydown", (e) => {
    const item = e.target.closest("[data-testid=canned-item]");
    if (!item) return;
    const next = e.key === "ArrowDown" ? item.nextElementSibling : e.key === "ArrowUp" ? item.previousElementSibling : null;
    if (next && next.matches("[data-testid=canned-item]")) { e.preventDefault(); next.focus(); }
  });
  $("composer").addEventListener("submit", (e) => { e.preventDefault(); send(); });
  $("reply").addEventListener("input", typing);
  $("reply").addEventListener("keydown", (e) => {
    if (e.key === "/" && !$("reply").value) { e.preventDefault(); openCanned(); }
  });

  PD.setupSearch(async (hit) => {
    try {
      state.card = await api("GET", `/agent/customers/${hit.id}/card`);
      // Another customer's documents cannot go into this conversation: no send buttons then.
      const own = state.current && state.current.conversation.customer_id === hit.id;
      PD.renderCard(state.card, { onOpenConversation: openConversation, onSendDocument: own ? sendDocument : null });
    } catch (err) { failed(err); }
  });
  PD.setupPresence();
  PD.setupShortcuts({
    j: () => move(1),
    k: () => move(-1),
    c: claim,
    r: () => { if (!$("composer").hidden) { $("note-toggle").checked = !isMine(); $("reply").focus(); } },
    n: () => { if (!$("composer").hidden) { $("note-toggle").checked = true; $("reply").focus(); } },
    b: release,
    "/": openCanned,
    send: () => { if (document.activeElement === $("reply")) send(); },
  });
  setupNotifyButton();
  setInterval(tick, 1000);
  setInterval(loadLists, 15000); // the fallback when an event is missed
  loadLists();
  connect();
  const hash = /^#conversation-(\d+)$/.exec(location.hash);
  if (hash) openConversation(Number(hash[1]));
})();
