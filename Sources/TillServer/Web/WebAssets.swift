/// The pages: plain HTML and CSS, and a little vanilla JavaScript that calls the JSON API. The token lives in the
/// page's own origin (sessionStorage, which other origins cannot read) and goes out as an `Authorization` header,
/// which a cross-site form or image cannot send, so state-changing requests are not open to cross-site forgery.
enum WebAssets {
    static func page(title: String, body: String, script: String) -> String {
        """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(title) · Till</title>
        <link rel="stylesheet" href="/assets/till.css">
        </head>
        <body>
        <header class="top">
          <a href="/" class="brand">Till</a>
          <nav><a href="/">Shop</a> <a href="/account" id="nav-account">Account</a>
            <span id="who"></span> <button id="signout" class="link" hidden>Sign out</button></nav>
        </header>
        <main>
        \(body)
        </main>
        <script src="/assets/till.js"></script>
        <script src="/assets/\(script).js"></script>
        </body>
        </html>
        """
    }

    static let storefront = page(title: "Shop", body: #"""
        <section id="auth" class="card">
          <h2>Sign in or register</h2>
          <form id="auth-form">
            <label>Email <input type="email" id="auth-email" autocomplete="email" required></label>
            <label>Password <input type="password" id="auth-password" autocomplete="current-password" minlength="8" required></label>
            <div class="row"><button type="submit" id="signin">Sign in</button>
            <button type="button" id="register" class="secondary">Register</button></div>
            <p id="auth-error" class="error" role="alert"></p>
          </form>
        </section>
        <section>
          <h1>Products</h1>
          <ul id="products" class="grid" aria-live="polite"></ul>
        </section>
        <section>
          <h2>Plans</h2>
          <ul id="plans" class="grid"></ul>
        </section>
        <section id="cart-section" class="card">
          <h2>Cart</h2>
          <ul id="cart"></ul>
          <p>Total: <strong id="cart-total">—</strong></p>
          <button id="pay" disabled>Pay</button>
          <p id="pay-error" class="error" role="alert"></p>
        </section>
        """#, script: "storefront")

    static let success = page(title: "Payment", body: #"""
        <section class="card">
          <h1>Thank you</h1>
          <p id="status-line" role="status" aria-live="polite">Checking your payment…</p>
          <dl>
            <dt>Status</dt><dd id="status">…</dd>
            <dt>Amount</dt><dd id="amount">…</dd>
          </dl>
          <ul id="items"></ul>
          <p><a href="/account">Your account</a> · <a href="/">Back to the shop</a></p>
        </section>
        """#, script: "success")

    static let cancel = page(title: "Checkout cancelled", body: #"""
        <section class="card">
          <h1>Checkout cancelled</h1>
          <p id="status-line" role="status">Nothing was charged.</p>
          <dl><dt>Order</dt><dd id="order-id">…</dd><dt>Status</dt><dd id="status">…</dd><dt>Amount</dt><dd id="amount">…</dd></dl>
          <button id="retry" hidden>Pay now</button>
          <p id="error" class="error" role="alert"></p>
          <p><a href="/">Back to the shop</a></p>
        </section>
        """#, script: "cancel")

    static let account = page(title: "Account", body: #"""
        <section class="card">
          <h1>Your account</h1>
          <p id="signed-out" hidden>Please <a href="/">sign in</a> first.</p>
          <dl><dt>Email</dt><dd id="email">…</dd><dt>Plan</dt><dd id="plan">…</dd><dt>Credits</dt><dd id="credits">…</dd></dl>
        </section>
        <section><h2>Orders</h2><table id="orders"><thead><tr><th>Order</th><th>Status</th><th>Amount</th><th>Refunded</th><th>Created</th></tr></thead><tbody></tbody></table></section>
        <section><h2>Payments</h2><table id="payments"><thead><tr><th>Payment</th><th>For</th><th>Status</th><th>Amount</th><th>Refunded</th></tr></thead><tbody></tbody></table></section>
        """#, script: "account")

    static let css = #"""
        :root{--fg:#1a1f36;--muted:#697386;--accent:#635bff;--bad:#c0123c;--line:#e3e8ee;font-family:system-ui,sans-serif;color:var(--fg)}
        body{margin:0}main{max-width:60rem;margin:0 auto;padding:1rem}
        .top{display:flex;justify-content:space-between;align-items:center;padding:.75rem 1rem;border-bottom:1px solid var(--line);flex-wrap:wrap;gap:.5rem}
        .brand{font-weight:700;font-size:1.2rem;color:var(--accent);text-decoration:none}nav a{margin-right:.75rem}
        .card{border:1px solid var(--line);border-radius:8px;padding:1rem;margin:1rem 0}
        .grid{list-style:none;padding:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:1rem}
        .grid li{border:1px solid var(--line);border-radius:8px;padding:1rem}.price{font-size:1.2rem;font-weight:600}
        .muted{color:var(--muted)}.error{color:var(--bad);font-weight:600}.ok{color:#0a7d32;font-weight:600}
        label{display:block;margin:.5rem 0}input{display:block;width:100%;max-width:24rem;padding:.5rem;font-size:1rem;box-sizing:border-box}
        button{padding:.55rem 1rem;font-size:1rem;border-radius:6px;border:0;background:var(--accent);color:#fff;cursor:pointer}
        button.secondary{background:#fff;color:var(--accent);border:1px solid var(--accent)}button.link{background:none;color:var(--accent);padding:0}
        button:disabled{opacity:.5;cursor:default}.row{display:flex;gap:.5rem;flex-wrap:wrap}
        table{width:100%;border-collapse:collapse}td,th{text-align:left;padding:.4rem;border-bottom:1px solid var(--line)}
        dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dd{margin:0}
        @media (max-width:40rem){table{font-size:.85rem}}
        """#
}
