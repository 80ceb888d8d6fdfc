"use strict";
Admin.start(async () => {
  const page = await Till.api("GET", "/api/subscriptions?limit=100");
  document.getElementById("empty").hidden = page.data.length > 0;
  document.querySelector("#subscriptions tbody").replaceChildren(...page.data.map(s => Till.el("tr", {},
    Till.el("td", {text: Admin.time(s.createdAt)}), Till.el("td", {text: s.userId}), Till.el("td", {text: s.planId}),
    Till.el("td", {}, Admin.status(s.status)), Till.el("td", {text: Admin.time(s.currentPeriodEnd)}))));
});
