/* The tickets page (/agent/tickets): the staff ticket queue with filters, one ticket with
   its messages, a reply or an internal note, status and priority. */
"use strict";

(() => {
  const { t, api, el, toast, failed } = PD;
  const $ = (id) => document.getElementById(id);
  let tickets = [];
  let current = null;

  async function load() {
    const params = new URLSearchParams({ limit: "200" });
    if ($("f-status").value) params.append("status", $("f-status").value);
    if ($("f-priority").value) params.append("priority", $("f-priority").value);
    const q = $("f-text").value.trim();
    if (q) params.append("q", q.slice(0, 100));
    try {
      const found = await api("GET", "/agent/tickets?" + params.toString());
      tickets = found.items;
    } catch (err) { failed(err); return; }
    render();
  }

  function render() {
    const shown = tickets;
    const list = $("ticket-list");
    list.replaceChildren(...shown.map((x) => el("li", {
      class: "conv" + (current && current.id === x.id ? " active" : ""), tabindex: "0",
      "data-testid": "ticket", "data-ticket-id": x.id,
      onclick: () => open(x.id), onkeydown: (e) => { if (e.key === "Enter") open(x.id); },
    },
    el("div", { class: "conv-top" },
      el("span", { class: `prio prio-${x.priority}`, text: t("console-ticket-priority-" + x.priority) }),
      el("strong", { class: "conv-name", text: `#${x.id} ${x.subject}` })),
    el("div", { class: "conv-last", text: `${t("console-ticket-status-" + x.status.replace("_", "-"))} · ${PD.when(x.created_at)}` }))));
    if (!shown.length) list.append(el("li", { class: "muted", text: t("console-tickets-empty") }));
    $("tickets-count").textContent = String(shown.length);
  }

  async function open(id) {
    try {
      current = await api("GET", `/tickets/${id}`);
    } catch (err) { failed(err); return; }
    history.replaceState(null, "", `#${id}`);
    $("ticket-subject").textContent = `#${current.id} ${current.subject}`;
    $("ticket-description").textContent = current.description;
    $("ticket-meta").hidden = false;
    $("ticket-reply").hidden = current.status === "closed";
    $("t-status").value = current.status;
    $("t-priority").value = current.priority;
    const log = $("ticket-messages");
    log.replaceChildren(...current.messages.map((m) => {
      const li = el("li", { class: `msg from-${m.author_role === "customer" ? "customer" : "agent"}${m.internal ? " note" : ""}`, "data-testid": "ticket-message" });
      li.append(el("div", { class: "meta" },
        el("span", { class: "who", text: m.internal ? t("console-ticket-internal") : (m.author_role === "customer" ? t("console-from-customer") : t("console-from-agent")) }),
        el("time", { datetime: m.created_at, text: PD.when(m.created_at) })));
      li.append(el("div", { class: "text", text: m.body }));
      return li;
    }));
    log.scrollTop = log.scrollHeight;
    render();
    if (current.customer_id) {
      try {
        PD.renderCard(await api("GET", `/agent/customers/${current.customer_id}/card`), {});
      } catch (err) { PD.renderCard(null); }
    } else PD.renderCard(null);
  }

  async function change(field, value) {
    if (!current) return;
    try {
      await api("PATCH", `/tickets/${current.id}`, { [field]: value });
      toast(t("console-ticket-saved"));
    } catch (err) { failed(err); }
    await open(current.id);
    await load();
  }

  $("ticket-filters").addEventListener("submit", (e) => e.preventDefault());
  $("f-status").addEventListener("change", load);
  $("f-priority").addEventListener("change", load);
  let textTimer = null;
  $("f-text").addEventListener("input", () => { clearTimeout(textTimer); textTimer = setTimeout(load, 300); });
  $("t-status").addEventListener("change", (e) => change("status", e.target.value));
  $("t-priority").addEventListener("change", (e) => change("priority", e.target.value));
  $("ticket-reply").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = $("t-body").value.trim();
    if (!body || !current) return;
    try {
      await api("POST", `/tickets/${current.id}/messages`, { body, internal: $("t-internal").checked });
      $("t-body").value = "";
      toast(t("console-sent"));
    } catch (err) { failed(err); }
    await open(current.id);
  });

  PD.setupSearch(async (hit) => {
    try { PD.renderCard(await api("GET", `/agent/customers/${hit.id}/card`), {}); } catch (err) { failed(err); }
  });
  PD.setupPresence();
  PD.setupShortcuts({
    r: () => { if (!$("ticket-reply").hidden) $("t-body").focus(); },
    send: () => { if (document.activeElement === $("t-body")) $("ticket-reply").requestSubmit(); },
  });
  load().then(() => {
    const hash = /^#(\d+)$/.exec(location.hash);
    if (hash) open(Number(hash[1]));
  });
})();
