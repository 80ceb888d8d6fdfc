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
  config: null,
  /// `GET /api/config`, once per page: Stripe's mode and each currency's minor-unit digits (the server's rules).
  async loadConfig() {
    if (!Till.config) {
      Till.config = await Till.api("GET", "/api/config");
      Till.showModeBanner(Till.config.stripeMode);
    }
    return Till.config;
  },
  /// Says plainly, on every page, when no real money can move: the embedded emulator, or Stripe's test mode.
  showModeBanner(mode) {
    if (mode !== "emulator" && mode !== "test") return;
    const text = mode === "emulator"
      ? "Payments are emulated: this shop runs Till's built-in Stripe emulator and no real money moves. "
        + "Pay with the test card 4242 4242 4242 4242."
      : "Stripe test mode: no real money moves.";
    const banner = Till.el("p", {id: "mode-banner", class: "mode-banner", role: "status", text});
    document.body.prepend(banner);
  },
  /// Digits of the currency's minor unit, from the server; undefined for a currency it does not know.
  digits(currency) {
    return Till.config && Till.config.currencies ? Till.config.currencies[currency.toLowerCase()] : undefined;
  },
  /// An integer amount in minor units, shown in the visitor's locale: ¥500, $19.99, KWD 5.000, 1.234,50 €.
  money(amount, currency) {
    const d = Till.digits(currency);
    if (d === undefined) return `${amount} ${currency.toUpperCase()} (minor units)`;
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
  /// "19.99" typed for a currency of 2 digits → 1999; null unless it is a positive amount with at most the
  /// currency's digits. Whole strings of digits only: no floating point on money.
  parseMoney(text, currency) {
    const d = Till.digits(currency);
    const m = /^\s*(\d+)(?:[.,](\d*))?\s*$/.exec(text || "");
    if (d === undefined || !m || (m[2] || "").length > d) return null;
    const minor = m[1] + (m[2] || "").padEnd(d, "0");
    const value = Number(minor);
    return Number.isSafeInteger(value) ? value : null;
  },
  /// The amount in minor units as the major-unit text an input shows: 1999, "usd" → "19.99".
  majorText(amount, currency) {
    const d = Till.digits(currency) || 0;
    const s = String(amount).padStart(d + 1, "0");
    return d ? s.slice(0, -d) + "." + s.slice(-d) : s;
  },
  async header() {
    await Till.loadConfig();
    const user = await Till.me();
    document.getElementById("who").textContent = user ? user.email : "";
    const out = document.getElementById("signout");
    out.hidden = !user;
    out.onclick = () => { Till.setToken(null); location.href = "/"; };
    return user;
  },
  /// A recurring plan's period, "month" or "3 months"; null for a one-off plan.
  period(plan) {
    if (!plan.interval) return null;
    const n = plan.intervalCount || 1;
    return n > 1 ? `${n} ${plan.interval}s` : plan.interval;
  },
  /// An RFC 3339 time as a date in the visitor's locale; "—" for null.
  date(s) { return s ? new Date(s).toLocaleDateString(navigator.language || "en-US", {dateStyle: "medium"}) : "—"; },
  param(name) { return new URLSearchParams(location.search).get(name); },
  sleep(ms) { return new Promise(r => setTimeout(r, ms)); },
};
