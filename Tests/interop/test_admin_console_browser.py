"""The admin console in headless Chromium against `till serve` with the embedded emulator: an admin creates a product,
a customer buys it on the storefront, the admin finds the order, reads its timeline, refunds part of it and sees
PARTIALLY_REFUNDED; a failed webhook is replayed from the inbox; a customer's token is refused. With TILL_SCREENSHOTS
set, the dashboard and an order page are saved there (docs/ holds the README's copies)."""
import hashlib
import hmac
import json
import os
import time

import pytest
import requests
from conftest import Server

selenium = pytest.importorskip("selenium")
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from test_pages_browser import SCREENSHOTS, add_product_and_pay, browser, register, text_of, type_card  # noqa: E402,F401

ADMIN = {"email": "boss@shop.test", "password": "admin-password-1"}
SECRET = "whsec_admin_console_interop_0123456789abcdef"


@pytest.fixture(scope="module")
def console(till_bin):
    server = Server(till_bin, "embedded", {
        "ADMIN_EMAIL": ADMIN["email"], "ADMIN_PASSWORD": ADMIN["password"], "STRIPE_WEBHOOK_SECRET": SECRET,
        "BCRYPT_COST": "4"})
    yield server
    server.stop()


def wait(driver, condition, seconds=20):
    """Polls `condition`; the pages re-render their tables, so an element read mid-render is simply read again."""
    return WebDriverWait(driver, seconds, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)).until(condition)


def full_page_screenshot(driver, name):
    """The whole page, not only the window: the window grows to the page's height for the picture."""
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, max(900, driver.execute_script("return document.documentElement.scrollHeight") + 120))
    driver.save_screenshot(os.path.join(SCREENSHOTS, name))
    driver.set_window_size(width, 900)


def admin_token(console):
    return requests.post(console.root + "/api/auth/login", json=ADMIN, timeout=10).json()["token"]


def sign_in_as_admin(driver):
    wait(driver, EC.visibility_of_element_located((By.ID, "admin-email"))).send_keys(ADMIN["email"])
    driver.find_element(By.ID, "admin-password").send_keys(ADMIN["password"])
    driver.find_element(By.ID, "admin-signin-button").click()
    wait(driver, EC.visibility_of_element_located((By.ID, "console")))
    wait(driver, lambda d: text_of(d, "#who") == ADMIN["email"])


def test_admin_sells_finds_and_refunds_part_of_an_order(console, browser):
    # Sign in and create a product, its price typed in dollars.
    browser.get(console.root + "/admin/catalog")
    sign_in_as_admin(browser)
    browser.find_element(By.ID, "product-name").send_keys("Oolong")
    browser.find_element(By.ID, "product-description").send_keys("Roasted, 50 g")
    browser.find_element(By.ID, "product-price").send_keys("12.505")
    inventory = browser.find_element(By.ID, "product-inventory")
    inventory.clear()
    inventory.send_keys("5")
    browser.find_element(By.ID, "product-save").click()
    wait(browser, lambda d: "at most 2 decimals" in text_of(d, "#product-error"))
    price = browser.find_element(By.ID, "product-price")
    price.clear()
    price.send_keys("12.50")
    browser.find_element(By.ID, "product-save").click()
    wait(browser, lambda d: "Oolong" in text_of(d, "#products"))
    row = browser.find_element(By.XPATH, "//table[@id='products']//tr[td='Oolong']")
    assert "$12.50" in row.text and row.find_element(By.CSS_SELECTOR, ".stock").text == "5"

    # A customer buys it on the storefront, paying on the hosted page.
    email = f"dora-{int(time.time())}@shop.test"
    browser.execute_script("sessionStorage.clear()")
    register(browser, console, email)
    add_product_and_pay(browser, "Oolong")
    type_card(browser, "4242 4242 4242 4242")
    wait(browser, EC.url_contains("/checkout/success"))
    wait(browser, lambda d: text_of(d, "#status") == "PAID")

    # The customer's token does not open the console; the admin signs in instead.
    browser.get(console.root + "/admin")
    wait(browser, EC.visibility_of_element_located((By.ID, "not-admin")))
    assert email in text_of(browser, "#not-admin")
    assert not browser.find_element(By.ID, "console").is_displayed()
    browser.find_element(By.ID, "not-admin-switch").click()
    sign_in_as_admin(browser)

    # Find the order by the customer's email and open it.
    browser.get(console.root + "/admin/orders")
    wait(browser, EC.visibility_of_element_located((By.ID, "f-email"))).send_keys(email)
    browser.find_element(By.ID, "search").click()
    wait(browser, lambda d: email in text_of(d, "#orders tbody") and len(d.find_elements(By.CSS_SELECTOR, "#orders tbody tr")) == 1)
    assert "PAID" in text_of(browser, "#orders tbody") and "$12.50" in text_of(browser, "#orders tbody")
    browser.find_element(By.CSS_SELECTOR, "#orders tbody a").click()
    wait(browser, lambda d: text_of(d, "#order-status") == "PAID")
    timeline = text_of(browser, "#timeline")
    for line in ["Order created", "Checkout session opened", "checkout.session.completed", "Payment succeeded", "Order paid"]:
        assert line in timeline, timeline
    assert browser.find_elements(By.CSS_SELECTOR, "#timeline .event-id")[0].text.startswith("evt_")

    # Refund $5.00 of it from the payment page, after a confirmation that names the amount.
    browser.find_element(By.CSS_SELECTOR, "#payments tbody a").click()
    refund_amount = wait(browser, EC.visibility_of_element_located((By.ID, "refund-amount")))
    assert refund_amount.get_attribute("value") == "12.50"
    refund_amount.clear()
    refund_amount.send_keys("5")
    browser.find_element(By.ID, "refund").click()
    wait(browser, EC.visibility_of_element_located((By.ID, "refund-confirm")))
    assert "Refund $5.00 of $12.50" in text_of(browser, "#refund-confirm-text")
    browser.find_element(By.ID, "refund-confirm-yes").click()
    wait(browser, lambda d: text_of(d, "#payment-status") == "PARTIALLY_REFUNDED", 30)
    assert text_of(browser, "#order-status") == "PARTIALLY_REFUNDED"
    assert "$5.00" in text_of(browser, "#refunds") and "$5.00" in text_of(browser, "#payment-refunded")
    assert text_of(browser, "[data-stripe='charge']").startswith("ch_")
    assert browser.find_element(By.ID, "refund-amount").get_attribute("value") == "7.50"

    # The order page tells the whole story.
    browser.find_element(By.CSS_SELECTOR, "#payment-for a").click()
    wait(browser, lambda d: text_of(d, "#order-status") == "PARTIALLY_REFUNDED")
    assert "$5.00" in text_of(browser, "#order-refunded")
    wait(browser, lambda d: "charge.refunded" in text_of(d, "#timeline"))
    if SCREENSHOTS:
        full_page_screenshot(browser, "admin-order.png")

    # The dashboard counts the money and the order.
    browser.get(console.root + "/admin")
    wait(browser, lambda d: "$12.50" in text_of(d, "#today"))
    assert "$5.00" in text_of(browser, "#today")
    partly = browser.find_element(By.CSS_SELECTOR, "#orders-by-status [data-status='PARTIALLY_REFUNDED']")
    assert partly.text.endswith("1")
    assert "Oolong" in text_of(browser, "#low-stock") and "4" in text_of(browser, "#low-stock [data-product]")
    if SCREENSHOTS:
        full_page_screenshot(browser, "admin-dashboard.png")

    # Restock from the catalog: the 4 left plus 10.
    browser.get(console.root + "/admin/catalog")
    row = "//table[@id='products']//tr[td='Oolong']"
    wait(browser, lambda d: d.find_element(By.XPATH, row + "//td[@class='stock']").text == "4")
    count = browser.find_element(By.XPATH, row + "//input")
    count.clear()
    count.send_keys("10")
    browser.find_element(By.XPATH, row + "//button[text()='Restock']").click()
    wait(browser, lambda d: d.find_element(By.XPATH, row + "//td[@class='stock']").text == "14")


def signed(body):
    timestamp = int(time.time())
    signature = hmac.new(SECRET.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={signature}", "Content-Type": "application/json"}


def test_failed_webhook_is_replayed_from_the_inbox(console, browser):
    event_id = f"evt_unreadable_{int(time.time() * 1000)}"
    body = json.dumps({"id": event_id, "object": "event", "type": "checkout.session.completed", "created": 1,
                       "data": {"object": {"id": 5}}})
    assert requests.post(console.root + "/api/webhooks/stripe", data=body, headers=signed(body), timeout=10).status_code == 200
    headers = {"Authorization": f"Bearer {admin_token(console)}"}

    def stored():
        events = requests.get(console.root + "/api/admin/webhook-events?limit=100", headers=headers, timeout=10).json()["data"]
        return next(e for e in events if e["id"] == event_id)

    browser.get(console.root + "/admin/webhooks?status=failed")
    sign_in_as_admin(browser)
    replay = f"[data-replay='{event_id}']"

    def replay_button(d):
        if not d.find_elements(By.CSS_SELECTOR, replay):
            d.find_element(By.ID, "search").click()
            time.sleep(0.3)
        return d.find_elements(By.CSS_SELECTOR, replay)

    wait(browser, replay_button, 30)
    row = browser.find_element(By.CSS_SELECTOR, f"[data-event='{event_id}']")
    assert "checkout.session.completed" in row.text and "not a Stripe event" in row.text
    attempts = int(row.find_element(By.CSS_SELECTOR, ".attempts").text)
    browser.find_element(By.CSS_SELECTOR, replay).click()
    wait(browser, lambda d: "queued (pending)" in text_of(d, f"[data-event='{event_id}']"))
    wait(browser, lambda _: stored()["attempts"] > attempts and stored()["status"] == "failed", 30)


def test_a_customer_token_is_refused(console, browser):
    customer = requests.post(console.root + "/api/auth/register",
                             json={"email": f"eve-{int(time.time())}@shop.test", "password": "password-123"}, timeout=10).json()
    headers = {"Authorization": f"Bearer {customer['token']}"}
    for path in ["/api/admin/summary", "/api/admin/orders", "/api/admin/webhook-events"]:
        response = requests.get(console.root + path, headers=headers, timeout=10)
        assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    browser.get(console.root + "/admin/orders")
    browser.execute_script("sessionStorage.setItem('till.token', arguments[0])", customer["token"])
    browser.get(console.root + "/admin/orders")
    wait(browser, EC.visibility_of_element_located((By.ID, "not-admin")))
    assert "Not an admin" in text_of(browser, "#not-admin")
    assert browser.find_elements(By.CSS_SELECTOR, "#orders tbody tr") == []


def test_admin_finds_a_subscription_and_cancels_it_at_period_end(console, browser):
    from selenium.webdriver.support.ui import Select

    admin = {"Authorization": f"Bearer {admin_token(console)}"}
    # The admin makes a monthly plan in the catalog.
    browser.get(console.root + "/admin/catalog")
    sign_in_as_admin(browser)
    wait(browser, EC.visibility_of_element_located((By.ID, "plan-name")))
    browser.find_element(By.ID, "plan-name").send_keys("Pro")
    browser.find_element(By.ID, "plan-price").send_keys("9.00")
    Select(browser.find_element(By.ID, "plan-interval")).select_by_value("month")
    browser.find_element(By.ID, "plan-save").click()
    wait(browser, lambda d: any("Pro" in r.text and "every month" in r.text
                                for r in d.find_elements(By.CSS_SELECTOR, "#plans tbody tr")))
    plan_row = [r for r in browser.find_elements(By.CSS_SELECTOR, "#plans tbody tr") if "every month" in r.text][0]
    plan_id = plan_row.get_attribute("data-plan")
    plan = requests.get(f"{console.root}/api/plans/{plan_id}", timeout=10).json()
    assert (plan["interval"], plan["intervalCount"], plan["unitAmount"]) == ("month", 1, 900)

    # A customer subscribes through the API and pays the session as the hosted page does.
    customer = requests.post(console.root + "/api/auth/register", timeout=10,
                             json={"email": f"sub-{int(time.time())}@shop.test", "password": "password-123"}).json()
    checkout = requests.post(f"{console.root}/api/plans/{plan_id}/checkout", timeout=30,
                             headers={"Authorization": f"Bearer {customer['token']}"})
    assert checkout.status_code == 201, checkout.text
    session_id, subscription_id = checkout.json()["sessionId"], checkout.json()["subscriptionId"]
    paid = requests.post(f"{console.base}/v1/test_helpers/checkout/sessions/{session_id}/complete", timeout=30,
                         data={"payment_method": "pm_card_visa"}, headers={"Authorization": "Bearer sk_test_x"})
    assert paid.status_code == 200, paid.text

    def subscription():
        return requests.get(f"{console.root}/api/subscriptions/{subscription_id}", headers=admin, timeout=10).json()

    def payments():
        return requests.get(f"{console.root}/api/payments?subscriptionId={subscription_id}&limit=100", headers=admin,
                            timeout=10).json()["data"]

    deadline = time.time() + 30
    while not (subscription()["status"] == "ACTIVE" and [p["status"] for p in payments()] == ["SUCCEEDED"]):
        assert time.time() < deadline, (subscription(), payments())
        time.sleep(0.3)

    # The list shows it, newest first, with its plan's name and its renewal.
    browser.get(console.root + "/admin/subscriptions")
    wait(browser, EC.visibility_of_element_located((By.ID, "console")))
    row = f"#subscriptions tr[data-subscription='{subscription_id}']"
    wait(browser, lambda d: "Pro" in text_of(d, row))
    assert browser.find_elements(By.CSS_SELECTOR, "#subscriptions tbody tr")[0].get_attribute("data-subscription") == subscription_id
    assert text_of(browser, row + " .status") == "ACTIVE"
    assert text_of(browser, row + " .renewal").startswith("Renews on ")
    Select(browser.find_element(By.ID, "f-status")).select_by_visible_text("CANCELED")
    browser.find_element(By.ID, "search").click()
    wait(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, row) and d.find_element(By.ID, "empty").is_displayed())
    Select(browser.find_element(By.ID, "f-status")).select_by_visible_text("ACTIVE")
    browser.find_element(By.ID, "search").click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, row))
    browser.find_element(By.CSS_SELECTOR, row + " a").click()

    # Its page: the plan's price and period, one paid invoice, one payment.
    wait(browser, lambda d: text_of(d, "#status") == "ACTIVE" and text_of(d, "#price") == "$9.00 / month")
    assert text_of(browser, "#plan") == "Pro"
    assert text_of(browser, "#renewal").startswith("Renews on ")
    assert text_of(browser, "[data-stripe='subscription']").startswith("sub_")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#invoices tbody tr")) == 1)
    invoice = text_of(browser, "#invoices tbody tr")
    assert "paid" in invoice and "$9.00" in invoice, invoice
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#payments tbody tr")) == 1)
    assert "SUCCEEDED" in text_of(browser, "#payments tbody tr") and "$9.00" in text_of(browser, "#payments tbody tr")
    assert browser.find_element(By.CSS_SELECTOR, "#payments tbody a").get_attribute("href").endswith(
        "/admin/payments/" + payments()[0]["id"])
    assert not browser.find_element(By.ID, "resume").is_displayed()

    # Cancel at period end, after a confirmation that says it stays active until then.
    browser.find_element(By.ID, "cancel-at-period-end").click()
    alert = wait(browser, EC.alert_is_present())
    assert "stays active until" in alert.text, alert.text
    alert.accept()
    wait(browser, lambda d: text_of(d, "#renewal").startswith("Ends on "))
    assert text_of(browser, "#status") == "ACTIVE"
    assert text_of(browser, "#cancels-at-period-end") == "Yes"
    assert not browser.find_element(By.ID, "cancel-at-period-end").is_displayed()
    wait(browser, EC.visibility_of_element_located((By.ID, "resume")))
    assert text_of(browser, "#action-error") == "" and text_of(browser, "#page-error") == ""
    assert (subscription()["status"], subscription()["cancelAtPeriodEnd"]) == ("ACTIVE", True)
