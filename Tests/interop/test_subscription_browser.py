"""A subscription through the pages in headless Chromium, against `till serve` with the embedded emulator: a monthly
plan on the storefront, Subscribe, pay on the hosted page, the success page sees it ACTIVE, /account shows it with
its renewal and the credits of the first invoice, cancel at period end and resume, a second Subscribe is refused,
and "Manage billing" opens the Customer Portal."""
import time

import pytest
import requests
from conftest import Server

pytest.importorskip("selenium")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402

# The browser fixture (headless Chromium, a screenshot on failure) and the page helpers of the pages' browser test.
from test_pages_browser import ADMIN, browser, register, text_of, token, type_card, wait  # noqa: E402,F401

PLAN = {"name": "Monthly", "unitAmount": 900, "currency": "usd", "credits": 100, "interval": "month"}


@pytest.fixture(scope="module")
def shop(till_bin):
    server = Server(till_bin, "embedded", {"ADMIN_EMAIL": ADMIN["email"], "ADMIN_PASSWORD": ADMIN["password"]})
    admin = requests.post(server.root + "/api/auth/login", json=ADMIN, timeout=10).json()["token"]
    response = requests.post(server.root + "/api/plans", json=PLAN, headers={"Authorization": f"Bearer {admin}"},
                             timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["interval"] == "month"
    yield server
    server.stop()


def account_shows(driver, shop, condition, seconds=30):
    """Reloads /account until `condition` holds: the credits come with the `invoice.paid` webhook, a moment later."""
    deadline = time.time() + seconds
    while True:
        driver.get(shop.root + "/account")
        try:
            return wait(driver, condition, 5)
        except TimeoutException:
            if time.time() > deadline:
                raise


def test_subscribe_pay_and_manage(shop, browser):
    user_email = "sam@shop.test"
    register(browser, shop, user_email, ready="button[data-plan]")
    plans = text_of(browser, "#plans")
    assert "$9.00 / month" in plans
    assert "100 credits every month" in plans
    subscribe = browser.find_element(By.CSS_SELECTOR, "button[data-plan]")
    assert subscribe.text == "Subscribe"
    subscribe.click()
    wait(browser, EC.presence_of_element_located((By.ID, "cardnumber")))
    assert "/_stripe/checkout/cs_" in browser.current_url
    # The session names the user's Stripe Customer: the page shows its email, as Stripe's does.
    assert browser.find_element(By.ID, "email").get_attribute("value") == user_email
    type_card(browser, "4242 4242 4242 4242")

    wait(browser, EC.url_contains("/checkout/success?session_id=cs_"))
    wait(browser, lambda d: text_of(d, "#status") == "ACTIVE")
    assert "Subscription active" in text_of(browser, "#status-line")
    assert text_of(browser, "#amount") == "$9.00 / month"
    browser.find_element(By.ID, "subscription-account").click()

    wait(browser, EC.url_contains("/account"))
    account_shows(browser, shop, lambda d: text_of(d, "#credits") == "100")
    wait(browser, lambda d: text_of(d, "#subscription-status") == "ACTIVE")
    assert text_of(browser, "#subscription-plan") == "Monthly"
    assert text_of(browser, "#subscription-period").startswith("Renews on ")
    assert not browser.find_element(By.ID, "subscription-warning").is_displayed()
    assert not browser.find_element(By.ID, "subscription-resume").is_displayed()
    assert "subscription" in text_of(browser, "#payments")
    assert "SUCCEEDED" in text_of(browser, "#payments")

    browser.find_element(By.ID, "subscription-cancel").click()
    wait(browser, lambda d: text_of(d, "#subscription-period").startswith("Ends on "))
    assert text_of(browser, "#subscription-status") == "ACTIVE"  # still active until the period ends
    assert not browser.find_element(By.ID, "subscription-cancel").is_displayed()
    resume = wait(browser, EC.visibility_of_element_located((By.ID, "subscription-resume")))
    assert resume.text == "Resume"
    assert text_of(browser, "#subscription-error") == ""
    # The server agrees, and a reload shows the same.
    subs = requests.get(shop.root + "/api/subscriptions", headers={"Authorization": f"Bearer {token(browser)}"},
                        timeout=10).json()["data"]
    assert [(s["status"], s["cancelAtPeriodEnd"]) for s in subs] == [("ACTIVE", True)]
    account_shows(browser, shop, lambda d: text_of(d, "#subscription-period").startswith("Ends on "))

    browser.find_element(By.ID, "subscription-resume").click()
    wait(browser, lambda d: text_of(d, "#subscription-period").startswith("Renews on "))
    wait(browser, EC.visibility_of_element_located((By.ID, "subscription-cancel")))

    # One live subscription per user: a second Subscribe says so.
    browser.get(shop.root + "/")
    wait(browser, EC.element_to_be_clickable((By.CSS_SELECTOR, "button[data-plan]"))).click()
    wait(browser, lambda d: "already have a subscription" in text_of(d, "#plan-error"))
    assert browser.find_element(By.CSS_SELECTOR, "#plan-error a").get_attribute("href").endswith("/account")

    browser.get(shop.root + "/account")
    wait(browser, EC.element_to_be_clickable((By.ID, "billing-portal"))).click()
    wait(browser, EC.url_contains("/_stripe/portal/"))
