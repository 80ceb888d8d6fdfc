"use strict";
const cart = JSON.parse(sessionStorage.getItem("till.cart") || "{}");
let products = [];
function saveCart() { sessionStorage.setItem("till.cart", JSON.stringify(cart)); renderCart(); }
function renderCart() {
  const list = document.getElementById("cart");
  list.replaceChildren();
  let total = 0, currency = null;
  for (const [id, qty] of Object.entries(cart)) {
    const p = products.find(p => p.id === id);
    if (!p) continue;
    total += p.unitAmount * qty; currency = p.currency;
    const remove = Till.el("button", {class: "link", text: "remove"});
    remove.onclick = () => { delete cart[id]; saveCart(); };
    list.append(Till.el("li", {"data-product": id}, `${p.name} × ${qty} — ${Till.money(p.unitAmount * qty, p.currency)} `, remove));
  }
  document.getElementById("cart-total").textContent = currency ? Till.money(total, currency) : "—";
  document.getElementById("pay").disabled = !currency || !Till.token();
}
async function loadCatalog() {
  products = (await Till.api("GET", "/api/products?limit=100")).data;
  const list = document.getElementById("products");
  list.replaceChildren();
  for (const p of products) {
    const add = Till.el("button", {text: "Add to cart", "data-add": p.id});
    add.disabled = p.inventory < 1;
    add.onclick = () => {
      const first = Object.keys(cart)[0];
      if (first && products.find(x => x.id === first)?.currency !== p.currency) {
        document.getElementById("pay-error").textContent = "A cart holds one currency at a time.";
        return;
      }
      cart[p.id] = (cart[p.id] || 0) + 1; saveCart();
    };
    list.append(Till.el("li", {"data-product": p.id},
      Till.el("h3", {text: p.name}), Till.el("p", {class: "muted", text: p.description || ""}),
      Till.el("p", {class: "price", text: Till.money(p.unitAmount, p.currency)}),
      Till.el("p", {class: "stock", text: p.inventory > 0 ? `${p.inventory} left` : "Sold out"}), add));
  }
  const plans = (await Till.api("GET", "/api/plans?limit=100")).data;
  const planList = document.getElementById("plans");
  planList.replaceChildren();
  for (const plan of plans) {
    const period = Till.period(plan);
    const buy = Till.el("button", {text: period ? "Subscribe" : "Buy", "data-plan": plan.id});
    buy.onclick = async () => {
      const error = document.getElementById("plan-error");
      error.textContent = "";
      if (!Till.token()) { document.getElementById("auth-error").textContent = "Sign in to buy a plan."; return; }
      try { location.href = (await Till.api("POST", `/api/plans/${plan.id}/checkout`)).url; }
      catch (e) {
        if (e.code !== "already_subscribed") { error.textContent = e.message; return; }
        error.replaceChildren("You already have a subscription: manage it on ",
          Till.el("a", {href: "/account", text: "your account page"}), ".");
      }
    };
    const price = Till.money(plan.unitAmount, plan.currency) + (period ? ` / ${period}` : "");
    planList.append(Till.el("li", {"data-plan": plan.id}, Till.el("h3", {text: plan.name}),
      Till.el("p", {class: "price", text: price}),
      Till.el("p", {text: period ? `${plan.credits} credits every ${period}` : `${plan.credits} credits`}), buy));
  }
  renderCart();
}
async function authenticate(path) {
  const email = document.getElementById("auth-email").value, password = document.getElementById("auth-password").value;
  const error = document.getElementById("auth-error");
  error.textContent = "";
  try {
    const session = await Till.api("POST", path, {email, password});
    Till.setToken(session.token);
    await showAuth();
  } catch (e) { error.textContent = e.message; }
}
async function showAuth() {
  const user = await Till.header();
  document.getElementById("auth").hidden = !!user;
  renderCart();
}
document.getElementById("auth-form").onsubmit = (e) => { e.preventDefault(); authenticate("/api/auth/login"); };
document.getElementById("register").onclick = () => authenticate("/api/auth/register");
document.getElementById("pay").onclick = async () => {
  const error = document.getElementById("pay-error");
  error.textContent = "";
  const items = Object.entries(cart).map(([productId, quantity]) => ({productId, quantity}));
  try {
    const key = sessionStorage.getItem("till.cartKey") || crypto.randomUUID();
    sessionStorage.setItem("till.cartKey", key);
    const order = await Till.api("POST", "/api/orders", {items}, {"Idempotency-Key": key});
    const checkout = await Till.api("POST", `/api/orders/${order.id}/checkout`);
    sessionStorage.removeItem("till.cartKey");
    for (const k of Object.keys(cart)) delete cart[k];
    saveCart();
    location.href = checkout.url;
  } catch (e) { sessionStorage.removeItem("till.cartKey"); error.textContent = e.message; }
};
showAuth().then(loadCatalog).catch(e => { document.getElementById("pay-error").textContent = e.message; });
