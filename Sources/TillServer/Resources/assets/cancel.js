"use strict";
async function show() {
  await Till.header();
  const orderId = Till.param("orderId");
  if (!orderId || !Till.token()) { document.getElementById("status-line").textContent = "Sign in to see this order."; return; }
  const order = await Till.api("GET", `/api/orders/${encodeURIComponent(orderId)}`);
  document.getElementById("order-id").textContent = order.id;
  document.getElementById("status").textContent = order.status;
  document.getElementById("amount").textContent = Till.money(order.amount, order.currency);
  const retry = document.getElementById("retry");
  retry.hidden = order.status !== "PENDING";
  retry.onclick = async () => {
    try { location.href = (await Till.api("POST", `/api/orders/${order.id}/checkout`)).url; }
    catch (e) { document.getElementById("error").textContent = e.message; }
  };
}
show().catch(e => { document.getElementById("error").textContent = e.message; });
