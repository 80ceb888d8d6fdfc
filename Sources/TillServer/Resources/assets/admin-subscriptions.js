"use strict";
/// Each plan is read once per page, however many rows name it; a plan that cannot be read shows its id.
const plans = new Map();
function plan(id) {
  if (!plans.has(id)) plans.set(id, Till.api("GET", `/api/plans/${encodeURIComponent(id)}`).catch(() => null));
  return plans.get(id);
}
/// "Renews on …" or "Ends on …" while live; "Ended on …" once over; nothing for a checkout not paid yet.
function renewal(s) {
  if (s.status === "ACTIVE" || s.status === "PAST_DUE") {
    return `${s.cancelAtPeriodEnd ? "Ends" : "Renews"} on ${Till.date(s.currentPeriodEnd)}`;
  }
  return s.endedAt ? `Ended on ${Till.date(s.endedAt)}` : "—";
}
Admin.start(() => Admin.list({
  path: "/api/subscriptions", fields: ["status", "userId"],
  render(subscriptions) {
    document.querySelector("#subscriptions tbody").replaceChildren(...subscriptions.map(s => {
      const planCell = Admin.td(Till.el("code", {text: s.planId.slice(0, 8)}), {class: "plan", "data-plan": s.planId});
      plan(s.planId).then(p => { if (p) planCell.replaceChildren(p.name); });
      return Admin.row({"data-subscription": s.id},
        Admin.time(s.createdAt),
        Admin.link("/admin/subscriptions/" + encodeURIComponent(s.id), Till.el("code", {text: s.id.slice(0, 8)})),
        Admin.td(Till.el("code", {text: s.userId.slice(0, 8), title: s.userId}), {class: "user"}),
        planCell,
        Admin.td(Admin.status(s.status), {class: "status-cell"}),
        Admin.td(renewal(s), {class: "renewal"}));
    }));
  },
}));
