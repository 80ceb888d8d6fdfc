"use strict";
const live = s => s.status === "ACTIVE" || s.status === "PAST_DUE";
/// Stripe's dashboard page of a subscription or invoice in test and live mode; the emulator has none.
function stripeLink(kind, id) {
  const mode = Till.config.stripeMode;
  if (mode !== "test" && mode !== "live") return null;
  const base = mode === "live" ? "https://dashboard.stripe.com" : "https://dashboard.stripe.com/test";
  if (kind === "subscription") return `${base}/subscriptions/${encodeURIComponent(id)}`;
  if (kind === "customer") return `${base}/customers/${encodeURIComponent(id)}`;
  return null;
}
function setText(id, text) { document.getElementById(id).textContent = text; }
/// "Renews on …" or "Ends on …" while live; "Ended on …" once over.
function renewal(s) {
  if (live(s)) return `${s.cancelAtPeriodEnd ? "Ends" : "Renews"} on ${Till.date(s.currentPeriodEnd)}`;
  return s.endedAt ? `Ended on ${Till.date(s.endedAt)}` : "";
}
/// The subscription's own facts and the buttons that fit its state.
function renderSubscription(s, plan) {
  document.title = `Subscription ${s.id.slice(0, 8)} · Till admin`;
  setText("subscription-id", s.id);
  Admin.setStatus("status", s.status);
  setText("renewal", renewal(s));
  setText("plan", plan ? plan.name : s.planId);
  const period = plan && Till.period(plan);
  setText("price", plan ? Till.money(plan.unitAmount, plan.currency) + (period ? ` / ${period}` : "") : "—");
  setText("user", s.userId);
  setText("period", s.currentPeriodStart || s.currentPeriodEnd
    ? `${Till.date(s.currentPeriodStart)} – ${Till.date(s.currentPeriodEnd)}` : "—");
  setText("cancels-at-period-end", s.cancelAtPeriodEnd ? "Yes" : "No");
  setText("canceled-at", Admin.time(s.canceledAt));
  setText("ended-at", Admin.time(s.endedAt));
  setText("created", Admin.time(s.createdAt));
  setText("updated", Admin.time(s.updatedAt));
  const ids = [["Subscription", "subscription", s.stripeSubscriptionId], ["Checkout session", "session", s.checkoutSessionId]];
  document.getElementById("stripe-ids").replaceChildren(...ids.flatMap(([label, kind, value]) => {
    const href = value && stripeLink(kind, value);
    const code = Till.el("code", {text: value || "—"});
    return [Till.el("dt", {text: label}),
      Till.el("dd", {"data-stripe": kind}, href ? Till.el("a", {href, target: "_blank", rel: "noopener"}, code) : code)];
  }));
  const canCancel = live(s) || s.status === "INCOMPLETE";
  document.getElementById("cancel-at-period-end").hidden = !live(s) || s.cancelAtPeriodEnd;
  document.getElementById("cancel-now").hidden = !canCancel;
  document.getElementById("resume").hidden = !live(s) || !s.cancelAtPeriodEnd;
  document.getElementById("actions").hidden = !canCancel;
}
/// Invoices come from Stripe: when Stripe cannot answer, the rest of the page still shows.
async function renderInvoices(s) {
  const error = document.getElementById("invoices-error");
  error.textContent = "";
  let invoices = [];
  try {
    invoices = (await Till.api("GET", `/api/subscriptions/${encodeURIComponent(s.id)}/invoices`)).data;
  } catch (err) {
    if (err.status === 403) throw err;
    error.textContent = `Stripe's invoices could not be read: ${err.message}`;
  }
  document.getElementById("invoices-empty").hidden = invoices.length > 0 || error.textContent !== "";
  document.querySelector("#invoices tbody").replaceChildren(...invoices.map(i => {
    const code = Till.el("code", {text: i.id});
    return Admin.row({"data-invoice": i.id},
      Admin.td(i.hostedInvoiceUrl ? Till.el("a", {href: i.hostedInvoiceUrl, target: "_blank", rel: "noopener"}, code) : code),
      Admin.td(Admin.status(i.status), {class: "status-cell"}),
      i.billingReason, Till.money(i.amountDue, i.currency), Till.money(i.amountPaid, i.currency),
      Admin.td(String(i.attemptCount), {class: "attempts"}),
      i.periodStart || i.periodEnd ? `${Till.date(i.periodStart)} – ${Till.date(i.periodEnd)}` : null,
      i.nextPaymentAttempt ? Admin.time(i.nextPaymentAttempt) : null, Admin.time(i.createdAt));
  }));
}
async function renderPayments(s) {
  const payments = (await Till.api("GET", `/api/payments?subscriptionId=${encodeURIComponent(s.id)}&limit=100`)).data;
  document.getElementById("payments-empty").hidden = payments.length > 0;
  document.querySelector("#payments tbody").replaceChildren(...payments.map(p => Admin.row({"data-payment": p.id},
    Admin.time(p.createdAt), Admin.link("/admin/payments/" + encodeURIComponent(p.id), Till.el("code", {text: p.id.slice(0, 8)})),
    p.invoiceId ? Till.el("code", {text: p.invoiceId}) : null, Admin.td(Admin.status(p.status), {class: "status-cell"}),
    Till.money(p.amount, p.currency), Till.money(p.amountRefunded || 0, p.currency),
    p.failureCode ? `${p.failureCode}: ${p.failureMessage || ""}` : "")));
}
Admin.start(async () => {
  const id = Admin.pathId();
  let s = await Till.api("GET", `/api/subscriptions/${encodeURIComponent(id)}`);
  let plan = null;
  try { plan = await Till.api("GET", `/api/plans/${encodeURIComponent(s.planId)}`); } catch (err) { plan = null; }
  renderSubscription(s, plan);
  await Promise.all([renderInvoices(s), renderPayments(s)]);

  const message = document.getElementById("action-message"), error = document.getElementById("action-error");
  const buttons = ["cancel-at-period-end", "cancel-now", "resume"].map(b => document.getElementById(b));
  /// Runs one action with the buttons disabled, then shows the subscription the server answers with.
  async function act(question, call, done) {
    message.textContent = ""; error.textContent = "";
    if (question && !window.confirm(question)) return;
    buttons.forEach(b => { b.disabled = true; });
    try {
      s = await call();
      renderSubscription(s, plan);
      message.textContent = done(s);
      renderPayments(s).catch(Admin.fail);
      renderInvoices(s).catch(Admin.fail);
    } catch (err) {
      if (err.status === 403) { Admin.fail(err); return; }
      error.textContent = err.message;
      // Ended meanwhile (409 subscription_not_active) or changed at Stripe: show what it is now.
      try { s = await Till.api("GET", `/api/subscriptions/${encodeURIComponent(id)}`); renderSubscription(s, plan); } catch (e) { /* keep the error */ }
    } finally {
      buttons.forEach(b => { b.disabled = false; });
    }
  }
  const path = action => `/api/subscriptions/${encodeURIComponent(s.id)}/${action}`;
  document.getElementById("cancel-at-period-end").onclick = () => act(
    `Cancel this subscription at the end of its period? It stays active until ${Till.date(s.currentPeriodEnd)}, then ends without renewing.`,
    () => Till.api("POST", path("cancel"), {atPeriodEnd: true}),
    r => `Cancellation scheduled. ${renewal(r)}.`);
  document.getElementById("cancel-now").onclick = () => act(
    s.status === "INCOMPLETE"
      ? "Cancel this subscription now? Its unpaid checkout is closed."
      : `Cancel this subscription now? It ends immediately instead of on ${Till.date(s.currentPeriodEnd)}, with no refund for the rest of the period. This cannot be undone.`,
    () => Till.api("POST", path("cancel"), {atPeriodEnd: false}),
    r => `Canceled: the subscription is ${r.status}.`);
  document.getElementById("resume").onclick = () => act(null,
    () => Till.api("POST", path("resume")),
    r => `Resumed. ${renewal(r)}.`);
});
