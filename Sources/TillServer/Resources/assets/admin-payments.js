"use strict";
Admin.start(() => Admin.list({
  path: "/api/payments", fields: ["status", "orderId", "userId", "sessionId", "paymentIntentId"],
  render(payments) {
    document.querySelector("#payments tbody").replaceChildren(...payments.map(p => Admin.row({"data-payment": p.id},
      Admin.time(p.createdAt), Admin.link("/admin/payments/" + encodeURIComponent(p.id), Till.el("code", {text: p.id.slice(0, 8)})),
      p.orderId ? Admin.link("/admin/orders/" + encodeURIComponent(p.orderId), "order " + p.orderId.slice(0, 8)) : p.kind,
      Admin.td(Admin.status(p.status)), Till.money(p.amount, p.currency), Till.money(p.amountRefunded, p.currency),
      p.failureCode || "")));
  },
}));
