"use strict";
Admin.start(async () => {
  const id = Admin.pathId();
  const t = await Till.api("GET", `/api/admin/orders/${encodeURIComponent(id)}/timeline`);
  const o = t.order;
  document.title = `Order ${o.id.slice(0, 8)} · Till admin`;
  document.getElementById("order-id").textContent = o.id;
  Admin.setStatus("order-status", o.status);
  document.getElementById("order-email").replaceChildren(o.userEmail
    ? Admin.link("/admin/orders?email=" + encodeURIComponent(o.userEmail), o.userEmail) : o.userId);
  document.getElementById("order-amount").textContent = Till.money(o.amount, o.currency);
  document.getElementById("order-refunded").textContent = Till.money(o.amountRefunded, o.currency);
  document.getElementById("order-created").textContent = Admin.time(o.createdAt);
  document.getElementById("order-paid").textContent = Admin.time(o.paidAt);
  document.getElementById("order-cancelled").textContent = Admin.time(o.cancelledAt);
  document.querySelector("#items tbody").replaceChildren(...o.items.map(i => Admin.row({"data-product": i.productId},
    i.name, String(i.quantity), Till.money(i.unitAmount, o.currency), Till.money(i.unitAmount * i.quantity, o.currency))));
  document.querySelector("#payments tbody").replaceChildren(...t.payments.map(p => Admin.row({"data-payment": p.id},
    Admin.link("/admin/payments/" + encodeURIComponent(p.id), Till.el("code", {text: p.id.slice(0, 8)})),
    Admin.td(Admin.status(p.status)), Till.money(p.amount, p.currency), Till.money(p.amountRefunded, p.currency), Admin.time(p.createdAt))));
  document.getElementById("timeline").replaceChildren(...Admin.timeline(t.timeline));
});
