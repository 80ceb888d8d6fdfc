/// The pages' JavaScript.
enum WebScripts {
    static let common = #"""
        "use strict";
        const Till = {
          token() { return sessionStorage.getItem("till.token"); },
          setToken(t) { if (t) sessionStorage.setItem("till.token", t); else sessionStorage.removeItem("till.token"); },
          async api(method, path, body, extraHeaders) {
            const headers = Object.assign({"Content-Type": "application/json"}, extraHeaders || {});
            const t = Till.token();
            if (t) headers["Authorization"] = "Bearer " + t;
            const res = await fetch(path, {method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit"});
            let data = null;
            try { data = await res.json(); } catch (e) { data = null; }
            if (!res.ok) {
              const err = new Error((data && data.error && data.error.message) || ("HTTP " + res.status));
              err.status = res.status; err.code = data && data.error && data.error.code;
              if (res.status === 401 && Till.token()) { Till.setToken(null); }
              throw err;
            }
            return data;
          },
          digits(currency) {
            const c = currency.toLowerCase();
            if (["bif","clp","djf","gnf","jpy","kmf","krw","mga","pyg","rwf","ugx","vnd","vuv","xaf","xof","xpf"].includes(c)) return 0;
            if (["bhd","jod","kwd","omr","tnd"].includes(c)) return 3;
            return 2;
          },
          /// An integer amount in minor units, shown in the visitor's locale: ¥500, $19.99, KWD 5.000, 1.234,50 €.
          money(amount, currency) {
            const d = Till.digits(currency);
            const major = amount / Math.pow(10, d);
            try {
              return new Intl.NumberFormat(navigator.language || "en-US", {style: "currency", currency: currency.toUpperCase(),
                minimumFractionDigits: d, maximumFractionDigits: d}).format(major);
            } catch (e) { return major.toFixed(d) + " " + currency.toUpperCase(); }
          },
          el(tag, attrs, ...children) {
            const e = document.createElement(tag);
            for (const [k, v] of Object.entries(attrs || {})) { if (k === "text") e.textContent = v; else e.setAttribute(k, v); }
            for (const c of children) e.append(c);
            return e;
          },
          async me() {
            if (!Till.token()) return null;
            try { return await Till.api("GET", "/api/auth/me"); } catch (e) { return null; }
          },
          async header() {
            const user = await Till.me();
            document.getElementById("who").textContent = user ? user.email : "";
            const out = document.getElementById("signout");
            out.hidden = !user;
            out.onclick = () => { Till.setToken(null); location.href = "/"; };
            return user;
          },
          param(name) { return new URLSearchParams(location.search).get(name); },
          sleep(ms) { return new Promise(r => setTimeout(r, ms)); },
        };
        """#

    static let storefront = #"""
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
            const buy = Till.el("button", {text: "Buy", "data-plan": plan.id});
            buy.onclick = async () => {
              if (!Till.token()) { document.getElementById("auth-error").textContent = "Sign in to buy a plan."; return; }
              try { location.href = (await Till.api("POST", `/api/plans/${plan.id}/checkout`)).url; }
              catch (e) { document.getElementById("pay-error").textContent = e.message; }
            };
            planList.append(Till.el("li", {"data-plan": plan.id}, Till.el("h3", {text: plan.name}),
              Till.el("p", {class: "price", text: Till.money(plan.unitAmount, plan.currency)}),
              Till.el("p", {text: `${plan.credits} credits`}), buy));
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
        """#

    static let success = #"""
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
        """#

    static let cancel = #"""
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
        """#

    static let account = #"""
        "use strict";
        async function show() {
          const user = await Till.header();
          if (!user) { document.getElementById("signed-out").hidden = false; return; }
          document.getElementById("email").textContent = user.email;
          document.getElementById("credits").textContent = String(user.creditBalance);
          let planName = "None";
          if (user.planId) { try { planName = (await Till.api("GET", `/api/plans/${user.planId}`)).name; } catch (e) { planName = user.planId; } }
          document.getElementById("plan").textContent = planName;
          const orders = (await Till.api("GET", "/api/orders?limit=100")).data;
          document.querySelector("#orders tbody").replaceChildren(...orders.map(o => Till.el("tr", {"data-order": o.id},
            Till.el("td", {text: o.items.map(i => `${i.name} × ${i.quantity}`).join(", ")}), Till.el("td", {class: "status", text: o.status}),
            Till.el("td", {text: Till.money(o.amount, o.currency)}), Till.el("td", {text: Till.money(o.amountRefunded, o.currency)}),
            Till.el("td", {text: new Date(o.createdAt).toLocaleString()}))));
          const payments = (await Till.api("GET", "/api/payments?limit=100")).data;
          document.querySelector("#payments tbody").replaceChildren(...payments.map(p => Till.el("tr", {"data-payment": p.id},
            Till.el("td", {text: p.id.slice(0, 8)}), Till.el("td", {text: p.kind === "plan" ? "plan" : "order"}),
            Till.el("td", {class: "status", text: p.status}), Till.el("td", {text: Till.money(p.amount, p.currency)}),
            Till.el("td", {text: Till.money(p.amountRefunded, p.currency)}))));
        }
        show().catch(e => { document.getElementById("signed-out").hidden = false; document.getElementById("signed-out").textContent = e.message; });
        """#
}
