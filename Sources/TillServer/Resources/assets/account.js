"use strict";
const live = s => s.status === "ACTIVE" || s.status === "PAST_DUE";
async function planName(id) {
  try { return (await Till.api("GET", `/api/plans/${id}`)).name; } catch (e) { return id; }
}
function renderSubscription(sub, plan) {
  document.getElementById("subscription").hidden = false;
  document.getElementById("subscription-none").hidden = !!sub;
  document.getElementById("subscription-details").hidden = !sub;
  if (!sub) return;
  document.getElementById("subscription-plan").textContent = plan;
  const status = document.getElementById("subscription-status");
  status.textContent = sub.status;
  status.className = "status s-" + sub.status.toLowerCase();
  document.getElementById("subscription-period").textContent = !live(sub)
    ? (sub.endedAt ? `Ended on ${Till.date(sub.endedAt)}` : "")
    : `${sub.cancelAtPeriodEnd ? "Ends" : "Renews"} on ${Till.date(sub.currentPeriodEnd)}`;
  document.getElementById("subscription-warning").hidden = sub.status !== "PAST_DUE";
  document.getElementById("subscription-cancel").hidden = !live(sub) || sub.cancelAtPeriodEnd;
  document.getElementById("subscription-resume").hidden = !live(sub) || !sub.cancelAtPeriodEnd;
}
/// Runs a subscription button's request with the button disabled meanwhile; an error shows under the section.
async function act(button, call) {
  const error = document.getElementById("subscription-error");
  error.textContent = "";
  button.disabled = true;
  try { await call(); } catch (e) { error.textContent = e.message; } finally { button.disabled = false; }
}
async function showSubscription() {
  const subs = (await Till.api("GET", "/api/subscriptions?limit=100")).data;
  const newest = list => list.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0];
  let sub = newest(subs.filter(live)) || newest(subs);
  const plan = sub ? await planName(sub.planId) : "";
  renderSubscription(sub, plan);
  const cancel = document.getElementById("subscription-cancel"), resume = document.getElementById("subscription-resume");
  cancel.onclick = () => act(cancel, async () => {
    sub = await Till.api("POST", `/api/subscriptions/${sub.id}/cancel`, {atPeriodEnd: true});
    renderSubscription(sub, plan);
  });
  resume.onclick = () => act(resume, async () => {
    sub = await Till.api("POST", `/api/subscriptions/${sub.id}/resume`);
    renderSubscription(sub, plan);
  });
  const portal = document.getElementById("billing-portal");
  portal.onclick = () => act(portal, async () => { location.href = (await Till.api("POST", "/api/billing-portal")).url; });
}
async function show() {
  const user = await Till.header();
  if (!user) { document.getElementById("signed-out").hidden = false; return; }
  document.getElementById("email").textContent = user.email;
  document.getElementById("credits").textContent = String(user.creditBalance);
  document.getElementById("plan").textContent = user.planId ? await planName(user.planId) : "None";
  const orders = (await Till.api("GET", "/api/orders?limit=100")).data;
  document.querySelector("#orders tbody").replaceChildren(...orders.map(o => Till.el("tr", {"data-order": o.id},
    Till.el("td", {text: o.items.map(i => `${i.name} × ${i.quantity}`).join(", ")}), Till.el("td", {class: "status", text: o.status}),
    Till.el("td", {text: Till.money(o.amount, o.currency)}), Till.el("td", {text: Till.money(o.amountRefunded, o.currency)}),
    Till.el("td", {text: new Date(o.createdAt).toLocaleString()}))));
  const payments = (await Till.api("GET", "/api/payments?limit=100")).data;
  document.querySelector("#payments tbody").replaceChildren(...payments.map(p => Till.el("tr", {"data-payment": p.id},
    Till.el("td", {text: p.id.slice(0, 8)}), Till.el("td", {text: p.kind || "order"}),
    Till.el("td", {class: "status", text: p.status}), Till.el("td", {text: Till.money(p.amount, p.currency)}),
    Till.el("td", {text: Till.money(p.amountRefunded, p.currency)}))));
  await showSubscription();
}
show().catch(e => { document.getElementById("signed-out").hidden = false; document.getElementById("signed-out").textContent = e.message; });
