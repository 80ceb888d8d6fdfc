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
async function show() {
  await Till.header();
  const sessionId = Till.param("session_id");
  const line = document.getElementById("status-line");
  if (!sessionId) { line.textContent = "No checkout session given."; return; }
  if (!Till.token()) { line.textContent = "Sign in to see this payment."; return; }
  const found = (await Till.api("GET", `/api/payments?sessionId=${encodeURIComponent(sessionId)}`)).data[0];
  if (!found) { line.textContent = "No payment of yours has this checkout session."; return; }
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
