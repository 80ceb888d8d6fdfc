"use strict";
const words = {
  PAID: "Paid — thank you!", PENDING: "Waiting for the payment to be confirmed…", CANCELLED: "This order was cancelled.",
  REFUNDED: "This order was refunded.", PARTIALLY_REFUNDED: "This order was partly refunded.",
};
const paymentWords = {
  PROCESSING: "Your payment is processing; this page updates when it clears.",
  FAILED: "Your card was declined. Nothing was charged; you can try again.",
  CANCELED: "The checkout expired before it was paid.", REQUIRES_REVIEW: "Your payment is being reviewed.",
};
const subscriptionWords = {
  ACTIVE: "Subscription active — thank you!", INCOMPLETE: "Waiting for the first payment to be confirmed…",
  PAST_DUE: "Payment failed — update your card on your account page.",
  INCOMPLETE_EXPIRED: "The checkout expired before it was paid.", CANCELED: "This subscription was canceled.",
};
/// A subscription's checkout has no payment of its own: its subscription carries the session id instead.
async function showSubscription(sessionId) {
  const line = document.getElementById("status-line");
  const found = (await Till.api("GET", "/api/subscriptions?limit=20")).data.find(s => s.checkoutSessionId === sessionId);
  if (!found) { line.textContent = "No payment or subscription of yours has this checkout session."; return; }
  const plan = await Till.api("GET", `/api/plans/${found.planId}`);
  const period = Till.period(plan);
  document.getElementById("amount").textContent = Till.money(plan.unitAmount, plan.currency) + (period ? ` / ${period}` : "");
  document.getElementById("items").replaceChildren(Till.el("li", {text: `${plan.name}: ${plan.credits} credits every ${period}`}));
  for (let i = 0; i < 60; i++) {
    const sub = await Till.api("POST", `/api/subscriptions/${found.id}/sync`);
    document.getElementById("status").textContent = sub.status;
    line.replaceChildren(subscriptionWords[sub.status] || sub.status);
    line.className = sub.status === "ACTIVE" ? "ok" : (sub.status === "INCOMPLETE" ? "" : "error");
    if (sub.status === "ACTIVE") line.append(" ", Till.el("a", {href: "/account", id: "subscription-account", text: "See your subscription"}));
    if (sub.status !== "INCOMPLETE") return;
    await Till.sleep(1000);
  }
}
async function show() {
  await Till.header();
  const sessionId = Till.param("session_id");
  const line = document.getElementById("status-line");
  if (!sessionId) { line.textContent = "No checkout session given."; return; }
  if (!Till.token()) { line.textContent = "Sign in to see this payment."; return; }
  const found = (await Till.api("GET", `/api/payments?sessionId=${encodeURIComponent(sessionId)}`)).data[0];
  if (!found) { await showSubscription(sessionId); return; }
  for (let i = 0; i < 60; i++) {
    const payment = await Till.api("POST", `/api/payments/${found.id}/sync`);
    let status = payment.status;
    if (payment.kind === "order") {
      const order = await Till.api("GET", `/api/orders/${payment.orderId}`);
      status = order.status;
      document.getElementById("items").replaceChildren(...order.items.map(it =>
        Till.el("li", {text: `${it.name} × ${it.quantity} — ${Till.money(it.unitAmount * it.quantity, order.currency)}`})));
    } else if (payment.status === "SUCCEEDED") {
      status = "PAID";
    }
    document.getElementById("status").textContent = status;
    document.getElementById("amount").textContent = Till.money(payment.amount, payment.currency);
    line.textContent = (status === "PENDING" && paymentWords[payment.status]) || words[status] || paymentWords[payment.status] || status;
    line.className = status === "PAID" ? "ok" : (payment.status === "FAILED" || status === "CANCELLED" ? "error" : "");
    if (status !== "PENDING" || payment.status === "FAILED" || payment.status === "CANCELED") return;
    await Till.sleep(1000);
  }
}
show().catch(e => { document.getElementById("status-line").textContent = e.message; });
