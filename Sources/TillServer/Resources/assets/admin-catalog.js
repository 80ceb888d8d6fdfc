"use strict";
let editing = null;
function priceHint(prefix) {
  const currency = document.getElementById(prefix + "-currency").value.trim().toLowerCase();
  const d = Till.digits(currency);
  document.getElementById(prefix + "-price-hint").textContent = d === undefined ? "(unknown currency)"
    : d === 0 ? `(whole ${currency.toUpperCase()}, no decimals)` : `(in ${currency.toUpperCase()}, up to ${d} decimals)`;
}
function readPrice(prefix) {
  const currency = document.getElementById(prefix + "-currency").value.trim().toLowerCase();
  const d = Till.digits(currency);
  if (d === undefined) throw new Error(`${currency.toUpperCase() || "That"} is not a currency Stripe accepts.`);
  const amount = Till.parseMoney(document.getElementById(prefix + "-price").value, currency);
  if (amount === null || amount <= 0) throw new Error(d === 0 ? `Enter the price in whole ${currency.toUpperCase()}.`
    : `Enter the price in ${currency.toUpperCase()} with at most ${d} decimals.`);
  return {currency, amount};
}
function editProduct(p) {
  editing = p;
  document.getElementById("product-form-title").textContent = "Edit " + p.name;
  document.getElementById("product-name").value = p.name;
  document.getElementById("product-description").value = p.description || "";
  const currency = document.getElementById("product-currency");
  currency.value = p.currency; currency.disabled = true;
  document.getElementById("product-price").value = Till.majorText(p.unitAmount, p.currency);
  document.getElementById("product-inventory").value = p.inventory;
  document.getElementById("product-active").checked = p.active;
  document.getElementById("product-save").textContent = "Save changes";
  document.getElementById("product-cancel").hidden = false;
  priceHint("product");
  document.getElementById("product-editor").scrollIntoView();
}
function resetProductForm() {
  editing = null;
  document.getElementById("product-form").reset();
  document.getElementById("product-currency").disabled = false;
  document.getElementById("product-form-title").textContent = "New product";
  document.getElementById("product-save").textContent = "Create product";
  document.getElementById("product-cancel").hidden = true;
  priceHint("product");
}
async function loadProducts() {
  const products = (await Till.api("GET", "/api/products?limit=100")).data;
  document.querySelector("#products tbody").replaceChildren(...products.map(p => {
    const edit = Till.el("button", {class: "link", text: "Edit", "data-edit": p.id});
    edit.onclick = () => editProduct(p);
    const count = Till.el("input", {type: "number", min: "1", step: "1", value: "10", class: "small", "aria-label": "Units to add"});
    const restock = Till.el("button", {class: "secondary", text: "Restock", "data-restock": p.id});
    restock.onclick = async () => {
      const n = Number(count.value);
      if (!Number.isSafeInteger(n) || n < 1) return;
      try {
        await Till.api("POST", `/api/admin/products/${p.id}/restock`, {quantity: n});
        await loadProducts();
      } catch (e) { document.getElementById("product-error").textContent = e.message; }
    };
    return Admin.row({"data-product": p.id}, p.name, p.description || "", Till.money(p.unitAmount, p.currency),
      Admin.td(String(p.inventory), {class: "stock"}), p.active ? "yes" : "no", Admin.td(Till.el("div", {class: "row"}, edit, count, restock)));
  }));
}
async function loadPlans() {
  const plans = (await Till.api("GET", "/api/plans?limit=100")).data;
  document.querySelector("#plans tbody").replaceChildren(...plans.map(p => Admin.row({"data-plan": p.id},
    p.name, Till.money(p.unitAmount, p.currency), Till.period(p) ? "every " + Till.period(p) : "once", String(p.credits),
    p.stripePriceId || "—")));
}
Admin.start(async () => {
  const list = document.getElementById("currency-codes");
  list.replaceChildren(...Object.keys(Till.config.currencies).map(c => Till.el("option", {value: c})));
  for (const prefix of ["product", "plan"]) {
    document.getElementById(prefix + "-currency").oninput = () => priceHint(prefix);
    priceHint(prefix);
  }
  document.getElementById("product-cancel").onclick = resetProductForm;
  document.getElementById("product-form").onsubmit = async (e) => {
    e.preventDefault();
    const error = document.getElementById("product-error");
    error.textContent = "";
    try {
      const {currency, amount} = readPrice("product");
      const body = {name: document.getElementById("product-name").value.trim(),
        description: document.getElementById("product-description").value.trim(), unitAmount: amount,
        inventory: Number(document.getElementById("product-inventory").value)};
      if (editing) {
        body.active = document.getElementById("product-active").checked;
        // Only what the admin changed: a stock figure read when the form opened would undo reservations made since.
        for (const key of Object.keys(body)) if (body[key] === editing[key] || (key === "description" && body[key] === (editing[key] || ""))) delete body[key];
        if (Object.keys(body).length) await Till.api("PATCH", `/api/products/${editing.id}`, body);
      } else {
        const created = await Till.api("POST", "/api/products", Object.assign({currency}, body));
        if (!document.getElementById("product-active").checked) await Till.api("PATCH", `/api/products/${created.id}`, {active: false});
      }
      resetProductForm();
      await loadProducts();
    } catch (err) { error.textContent = err.message; }
  };
  document.getElementById("plan-form").onsubmit = async (e) => {
    e.preventDefault();
    const error = document.getElementById("plan-error");
    error.textContent = "";
    try {
      const {currency, amount} = readPrice("plan");
      const body = {name: document.getElementById("plan-name").value.trim(), currency, unitAmount: amount,
        credits: Number(document.getElementById("plan-credits").value)};
      const priceId = document.getElementById("plan-price-id").value.trim();
      if (priceId) body.stripePriceId = priceId;
      const interval = document.getElementById("plan-interval").value;
      if (interval) {
        body.interval = interval;
        body.intervalCount = Number(document.getElementById("plan-interval-count").value || 1);
      }
      await Till.api("POST", "/api/plans", body);
      document.getElementById("plan-form").reset();
      priceHint("plan");
      await loadPlans();
    } catch (err) { error.textContent = err.message; }
  };
  await loadProducts();
  await loadPlans();
});
