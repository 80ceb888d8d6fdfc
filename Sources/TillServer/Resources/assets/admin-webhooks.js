"use strict";
Admin.start(() => {
  const list = Admin.list({
    path: "/api/admin/webhook-events", fields: ["status"],
    render(events) {
      document.querySelector("#events tbody").replaceChildren(...events.map(e => {
        let action = "";
        if (e.status === "failed") {
          action = Till.el("button", {class: "secondary", text: "Replay", "data-replay": e.id});
          action.onclick = async () => {
            action.disabled = true;
            try {
              const queued = await Till.api("POST", `/api/admin/webhook-events/${encodeURIComponent(e.id)}/replay`);
              action.replaceWith(Till.el("span", {class: "muted", text: `queued (${queued.status})`}));
              await Admin.sleep(1500);
              document.getElementById("search").click();
            } catch (err) { action.disabled = false; Admin.fail(err); }
          };
        }
        return Admin.row({"data-event": e.id}, Admin.time(e.receivedAt), Till.el("code", {text: e.id}), e.type,
          Admin.td(Admin.status(e.status), {class: "event-status"}), Admin.td(String(e.attempts), {class: "attempts"}),
          e.lastError || "", Admin.td(action));
      }));
    },
  });
  return list;
});
