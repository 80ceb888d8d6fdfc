"use strict";
/// Where an admin can look at a Stripe object: the emulator's own pages in emulator mode, else Stripe's dashboard.
function stripeLink(kind, id, details) {
  const mode = Till.config.stripeMode;
  if (mode === "emulator") {
    if (kind === "charge" && details.receiptUrl) return details.receiptUrl;
    if (kind === "session") return `${Till.config.stripeApiBase}/checkout/${encodeURIComponent(id)}`;
    return null;
  }
  const base = mode === "live" ? "https://dashboard.stripe.com" : "https://dashboard.stripe.com/test";
  if (kind === "charge" && details.receiptUrl) return details.receiptUrl;
  if (kind === "intent" || kind === "charge") return `${base}/payments/${encodeURIComponent(id)}`;
  return null;
}
async function render() {
  const id = Admin.pathId();
  const d = await Till.api("GET", `/api/admin/payments/${encodeURIComponent(id)}/timeline`);
  const p = d.payment;
  document.title = `Payment ${p.id.slice(0, 8)} · Till admin`;
  document.getElementById("payment-id").textContent = p.id;
  Admin.setStatus("payment-status", p.status);
  document.getElementById("disputed").hidden = !p.disputed;
  document.getElementById("payment-for").replaceChildren(p.orderId
    ? Admin.link("/admin/orders/" + encodeURIComponent(p.orderId), "Order " + p.orderId) : `Plan ${p.planId || ""}`);
  if (p.orderId) {
    const order = (await Till.api("GET", `/api/orders/${encodeURIComponent(p.orderId)}`));
    Admin.setStatus("order-status", order.status);
  }
  document.getElementById("payment-email").textContent = d.userEmail || p.customerEmail || p.userId;
  document.getElementById("payment-amount").textContent = Till.money(p.amount, p.currency);
  document.getElementById("payment-refunded").textContent = Till.money(p.amountRefunded, p.currency);
  document.getElementById("payment-failure").textContent = p.failureCode ? `${p.failureCode}: ${p.failureMessage || ""}` : "—";
  document.getElementById("payment-created").textContent = Admin.time(p.createdAt);
  document.getElementById("payment-succeeded").textContent = Admin.time(p.succeededAt);
  const ids = [["Checkout session", "session", p.checkoutSessionId], ["Payment intent", "intent", p.paymentIntentId],
    ["Charge", "charge", d.chargeId]];
  document.getElementById("stripe-ids").replaceChildren(...ids.flatMap(([label, kind, value]) => {
    const href = value && stripeLink(kind, value, d);
    const code = Till.el("code", {text: value || "—"});
    return [Till.el("dt", {text: label}), Till.el("dd", {"data-stripe": kind}, href ? Till.el("a", {href, target: "_blank", rel: "noopener"}, code) : code)];
  }));
  document.querySelector("#refunds tbody").replaceChildren(...d.refunds.map(r => Admin.row({"data-refund": r.id},
    Till.el("code", {text: r.id}), Till.money(r.amount, p.currency), r.status, Admin.time(r.createdAt))));
  document.getElementById("timeline").replaceChildren(...Admin.timeline(d.timeline));
  const left = p.amount - p.amountRefunded;
  const refundable = (p.status === "SUCCEEDED" || p.status === "PARTIALLY_REFUNDED") && left > 0;
  document.getElementById("refund-section").hidden = !refundable;
  if (refundable) {
    document.getElementById("refund-amount").value = Till.majorText(left, p.currency);
    document.getElementById("refund-hint").textContent = `(up to ${Till.money(left, p.currency)})`;
  }
  return p;
}
Admin.start(async () => {
  let payment = await render();
  const confirmBox = document.getElementById("refund-confirm");
  const message = document.getElementById("refund-message"), error = document.getElementById("refund-error");
  let amount = null;
  document.getElementById("refund-form").onsubmit = (e) => {
    e.preventDefault();
    error.textContent = ""; message.textContent = "";
    const left = payment.amount - payment.amountRefunded;
    amount = Till.parseMoney(document.getElementById("refund-amount").value, payment.currency);
    if (amount === null || amount <= 0 || amount > left) {
      error.textContent = `Enter an amount from ${Till.money(1, payment.currency)} to ${Till.money(left, payment.currency)}.`;
      return;
    }
    document.getElementById("refund-confirm-text").textContent =
      `Refund ${Till.money(amount, payment.currency)} of ${Till.money(payment.amount, payment.currency)} to the customer? This cannot be undone.`;
    confirmBox.hidden = false;
  };
  document.getElementById("refund-confirm-no").onclick = () => { confirmBox.hidden = true; };
  document.getElementById("refund-confirm-yes").onclick = async () => {
    confirmBox.hidden = true;
    const before = payment.amountRefunded;
    try {
      await Till.api("POST", `/api/payments/${encodeURIComponent(payment.id)}/refund`, {amount});
      message.textContent = `Refund of ${Till.money(amount, payment.currency)} requested; waiting for Stripe to confirm it…`;
      for (let i = 0; i < 30; i++) {
        await Admin.sleep(1000);
        payment = await render();
        if (payment.amountRefunded > before) {
          message.textContent = `Refunded ${Till.money(payment.amountRefunded - before, payment.currency)}.`;
          return;
        }
      }
      message.textContent = "Stripe has not confirmed the refund yet; this page shows it once it does.";
    } catch (err) { error.textContent = err.message; }
  };
});
