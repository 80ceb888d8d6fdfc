"use strict";
async function show() {
  const user = await Till.header();
  if (!user) { document.getElementById("signed-out").hidden = false; return; }
  document.getElementById("email").textContent = user.email;
  document.getElementById("credits").textContent = String(user.creditBalance);
  let planName = "None";
  if (user.planId) { try { planName = (await Till.api("GET", `/api/plans/${user.planId}`)).name; } catch (e) { planName = user.planId; } }
  document.getElementById("plan").textContent = planName;
  const orders = (await Till.api("GET", "/api/orders?limit=100")).data;
  document.querySelector("#orders tbody").replaceChildren(...orders.map(o => Till.el("tr", {"data-order": o.id},
    Till.el("td", {text: o.items.map(i => `${i.name} × ${i.quantity}`).join(", ")}), Till.el("td", {class: "status", text: o.status}),
    Till.el("td", {text: Till.money(o.amount, o.currency)}), Till.el("td", {text: Till.money(o.amountRefunded, o.currency)}),
    Till.el("td", {text: new Date(o.createdAt).toLocaleString()}))));
  const payments = (await Till.api("GET", "/api/payments?limit=100")).data;
  document.querySelector("#payments tbody").replaceChildren(...payments.map(p => Till.el("tr", {"data-payment": p.id},
    Till.el("td", {text: p.id.slice(0, 8)}), Till.el("td", {text: p.kind === "plan" ? "plan" : "order"}),
    Till.el("td", {class: "status", text: p.status}), Till.el("td", {text: Till.money(p.amount, p.currency)}),
    Till.el("td", {text: Till.money(p.amountRefunded, p.currency)}))));
}
show().catch(e => { document.getElementById("signed-out").hidden = false; document.getElementById("signed-out").textContent = e.message; });
