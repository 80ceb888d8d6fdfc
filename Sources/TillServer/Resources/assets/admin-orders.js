"use strict";
Admin.start(() => Admin.list({
  path: "/api/admin/orders", fields: ["status", "email", "id", "from", "to"],
  render(orders) {
    document.querySelector("#orders tbody").replaceChildren(...orders.map(o => Admin.row({"data-order": o.id},
      Admin.time(o.createdAt), Admin.link("/admin/orders/" + encodeURIComponent(o.id), Till.el("code", {text: o.id.slice(0, 8)})),
      o.userEmail, o.items.map(i => `${i.name} × ${i.quantity}`).join(", "), Admin.td(Admin.status(o.status), {class: "status-cell"}),
      Till.money(o.amount, o.currency), Till.money(o.amountRefunded, o.currency))));
  },
}));
