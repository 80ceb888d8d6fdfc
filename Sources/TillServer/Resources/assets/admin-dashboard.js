"use strict";
Admin.start(async () => {
  const s = await Till.api("GET", "/api/admin/summary");
  document.getElementById("generated").textContent = "As of " + Admin.time(s.generatedAt) + ".";
  for (const [id, period] of [["today", s.today], ["week", s.week]]) {
    const rows = period.paid.map(p => Admin.row({"data-currency": p.currency}, p.currency.toUpperCase(),
      Till.money(p.amount, p.currency), Till.money(p.refunded, p.currency), String(p.count)));
    if (!rows.length) rows.push(Admin.row({}, Admin.td("Nothing paid yet", {colspan: "4", class: "muted"})));
    document.querySelector(`#${id} tbody`).replaceChildren(...rows);
  }
  const lifecycle = ["PENDING", "PAID", "PARTIALLY_REFUNDED", "REFUNDED", "CANCELLED"];
  const statuses = Object.entries(s.ordersByStatus).sort(([a], [b]) => lifecycle.indexOf(a) - lifecycle.indexOf(b));
  document.getElementById("orders-by-status").replaceChildren(...statuses.map(([status, n]) =>
    Till.el("li", {"data-status": status}, Admin.link("/admin/orders?status=" + status, Admin.status(status)), " ",
      Till.el("strong", {text: n.toLocaleString()}))));
  document.getElementById("failed-webhooks").textContent = s.failedWebhooks.toLocaleString();
  document.getElementById("low-stock-threshold").textContent = `(${s.lowStockThreshold} or fewer left)`;
  const low = s.lowStock.map(p => Admin.row({"data-product": p.id}, Admin.link("/admin/catalog", p.name),
    Till.money(p.unitAmount, p.currency), String(p.inventory)));
  if (!low.length) low.push(Admin.row({}, Admin.td("Everything is in stock", {colspan: "3", class: "muted"})));
  document.querySelector("#low-stock tbody").replaceChildren(...low);
});
