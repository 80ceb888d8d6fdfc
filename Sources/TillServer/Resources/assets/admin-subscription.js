"use strict";
Admin.start(async () => {
  const id = location.pathname.split("/").pop();
  const s = await Till.api("GET", `/api/subscriptions/${encodeURIComponent(id)}`);
  Admin.setStatus("status", s.status);
});
