"use strict";
/// The admin console's shared parts. The API is the guard: a page only shows what the admin routes answer, and a
/// customer's token gets 403 from every one of them.
const Admin = {
  /// Signs in (or explains that this account is not an admin), then runs the page's `render`.
  async start(render) {
    document.getElementById("admin-signin-form").onsubmit = async (e) => {
      e.preventDefault();
      const error = document.getElementById("admin-signin-error");
      error.textContent = "";
      try {
        const session = await Till.api("POST", "/api/auth/login", {
          email: document.getElementById("admin-email").value, password: document.getElementById("admin-password").value});
        Till.setToken(session.token);
        location.reload();
      } catch (err) { error.textContent = err.message; }
    };
    document.getElementById("not-admin-switch").onclick = () => { Till.setToken(null); location.reload(); };
    const user = await Till.header();
    document.getElementById("signout").onclick = () => { Till.setToken(null); location.href = "/admin"; };
    if (!user) { document.getElementById("admin-signin").hidden = false; return; }
    if (user.role !== "admin") { Admin.notAdmin(user.email); return; }
    document.getElementById("console").hidden = false;
    try { await render(user); } catch (err) { Admin.fail(err); }
  },
  notAdmin(email) {
    document.getElementById("console").hidden = true;
    document.getElementById("not-admin-email").textContent = email || "this account";
    document.getElementById("not-admin").hidden = false;
  },
  fail(err) {
    if (err.status === 403) { Admin.notAdmin(document.getElementById("who").textContent); return; }
    document.getElementById("page-error").textContent = err.message;
  },
  time(text) { return text ? new Date(text).toLocaleString() : "—"; },
  status(text) { return Till.el("span", {class: "status s-" + String(text).toLowerCase(), text: String(text)}); },
  /// Shows a status in the badge with this id.
  setStatus(id, text) {
    const badge = document.getElementById(id);
    badge.className = "status s-" + String(text).toLowerCase();
    badge.textContent = String(text);
  },
  link(href, text) { return Till.el("a", {href}, text); },
  td(content, attrs) {
    const cell = Till.el("td", attrs || {});
    cell.append(content === null || content === undefined ? "—" : content);
    return cell;
  },
  row(attrs, ...cells) { return Till.el("tr", attrs, ...cells.map(c => c instanceof HTMLTableCellElement ? c : Admin.td(c))); },
  /// The page's id: the last part of /admin/orders/ID.
  pathId() { return decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || ""); },
  /// A list with filters kept in the URL's query and cursor pages (`startingAfter`).
  list(options) {
    const {path, fields, render} = options;
    const form = document.getElementById("filters");
    const params = new URLSearchParams(location.search);
    for (const f of fields) { const input = document.getElementById("f-" + f); if (params.get(f)) input.value = params.get(f); }
    let cursors = [];
    async function load(after) {
      const query = new URLSearchParams();
      for (const f of fields) { const v = document.getElementById("f-" + f).value.trim(); if (v) query.set(f, v); }
      history.replaceState(null, "", location.pathname + (query.toString() ? "?" + query : ""));
      query.set("limit", "20");
      if (after) query.set("startingAfter", after);
      const page = await Till.api("GET", path + "?" + query);
      render(page.data);
      document.getElementById("empty").hidden = page.data.length > 0;
      const next = document.getElementById("next");
      next.hidden = !page.hasMore;
      next.onclick = () => { cursors.push(page.data[page.data.length - 1].id); load(cursors[cursors.length - 1]).catch(Admin.fail); };
      const first = document.getElementById("first");
      first.hidden = !after;
      first.onclick = () => { cursors = []; load(null).catch(Admin.fail); };
    }
    form.onsubmit = (e) => { e.preventDefault(); cursors = []; load(null).catch(Admin.fail); };
    return load(null);
  },
  /// A timeline entry: when, what, and the Stripe event it came from.
  timeline(entries) {
    return entries.map(t => {
      const li = Till.el("li", {class: "t-" + t.kind, "data-kind": t.kind});
      li.append(Till.el("time", {text: Admin.time(t.at)}), " ", Till.el("strong", {text: t.title}));
      if (t.amount !== null) li.append(" ", Till.el("span", {class: "amount", text: Till.money(t.amount, t.currency)}));
      if (t.stripeEventId) li.append(" ", Till.el("code", {class: "event-id", text: t.stripeEventId}));
      if (t.eventStatus) li.append(" ", Admin.status(t.eventStatus));
      if (t.detail) li.append(Till.el("div", {class: "muted", text: t.detail}));
      return li;
    });
  },
  sleep(ms) { return new Promise(r => setTimeout(r, ms)); },
};
