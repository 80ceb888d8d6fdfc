"""The pages in a real headless Chromium (Debian's chromium and chromium-driver, driven by selenium), against
`till serve` with the embedded emulator: register, buy by typing a card on the hosted page, see PAID; a declined
card; a plan's credits on /account. Screenshots are saved on failure (and for the README with TILL_SCREENSHOTS)."""
import os
import pathlib
import shutil

import pytest
import requests
from conftest import Server

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

ADMIN = {"email": "admin@shop.test", "password": "admin-password-1"}
ARTIFACTS = pathlib.Path(os.environ.get("TILL_ARTIFACTS", "/tmp/till-browser-artifacts"))
SCREENSHOTS = os.environ.get("TILL_SCREENSHOTS")


@pytest.fixture(scope="module")
def shop(till_bin):
    server = Server(till_bin, "embedded", {"ADMIN_EMAIL": ADMIN["email"], "ADMIN_PASSWORD": ADMIN["password"]})
    admin = requests.post(server.root + "/api/auth/login", json=ADMIN, timeout=10).json()["token"]
    headers = {"Authorization": f"Bearer {admin}"}
    for product in [
        {"name": "Green tea", "description": "Loose leaf, 100 g", "unitAmount": 1999, "currency": "usd", "inventory": 20},
        {"name": "Matcha whisk", "description": "Bamboo", "unitAmount": 1250, "currency": "usd", "inventory": 5},
    ]:
        assert requests.post(server.root + "/api/products", json=product, headers=headers, timeout=10).status_code == 201
    plan = {"name": "Pro", "unitAmount": 900, "currency": "usd", "credits": 100}
    assert requests.post(server.root + "/api/plans", json=plan, headers=headers, timeout=10).status_code == 201
    yield server
    server.stop()


def chromium_paths():
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
    return binary, driver


@pytest.fixture
def browser(request):
    binary, driver_path = chromium_paths()
    assert binary, "chromium is not installed (apt-get install chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,900", "--lang=en-US"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    driver.implicitly_wait(0)
    yield driver
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"{request.node.name}.png"))
        (ARTIFACTS / f"{request.node.name}.html").write_text(driver.page_source)
    driver.quit()


def wait(driver, condition, seconds=20):
    return WebDriverWait(driver, seconds).until(condition)


def text_of(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def register(driver, shop, email, ready="[data-add]"):
    """Registers on the storefront once `ready` (what the test will use) is on the page."""
    driver.get(shop.root + "/")
    wait(driver, EC.presence_of_element_located((By.CSS_SELECTOR, ready)))
    driver.find_element(By.ID, "auth-email").send_keys(email)
    driver.find_element(By.ID, "auth-password").send_keys("password-123")
    driver.find_element(By.ID, "register").click()
    wait(driver, EC.invisibility_of_element_located((By.ID, "auth")))
    wait(driver, lambda d: text_of(d, "#who") == email)


def add_product_and_pay(driver, name="Green tea"):
    driver.find_element(By.XPATH, f"//li[h3='{name}']//button").click()
    wait(driver, lambda d: text_of(d, "#cart-total") != "—")
    wait(driver, EC.element_to_be_clickable((By.ID, "pay"))).click()
    wait(driver, EC.presence_of_element_located((By.ID, "cardnumber")))
    assert "/_stripe/checkout/cs_" in driver.current_url


def type_card(driver, number):
    field = driver.find_element(By.ID, "cardnumber")
    field.clear()
    field.send_keys(number)
    for field_id, value in [("expiry", "12 / 34"), ("cvc", "123")]:
        element = driver.find_element(By.ID, field_id)
        element.clear()
        element.send_keys(value)
    driver.find_element(By.ID, "pay").click()


def token(driver):
    return driver.execute_script("return sessionStorage.getItem('till.token')")


def test_buy_a_product_with_a_card(shop, browser):
    register(browser, shop, "ann@shop.test")
    # Without a Stripe key, every page says that payments are emulated.
    assert "Payments are emulated" in text_of(browser, "#mode-banner")
    assert "$19.99" in text_of(browser, "#products")
    assert "20 left" in text_of(browser, "#products")
    if SCREENSHOTS:
        browser.save_screenshot(os.path.join(SCREENSHOTS, "storefront.png"))
    add_product_and_pay(browser)
    assert "19.99 USD" in text_of(browser, "#total")
    if SCREENSHOTS:
        browser.find_element(By.ID, "cardnumber").send_keys("4242 4242 4242 4242")
        browser.save_screenshot(os.path.join(SCREENSHOTS, "hosted-checkout.png"))
    type_card(browser, "4242 4242 4242 4242")
    wait(browser, EC.url_contains("/checkout/success?session_id=cs_"))
    wait(browser, lambda d: text_of(d, "#status") == "PAID")
    assert "Paid" in text_of(browser, "#status-line")
    assert "Green tea" in text_of(browser, "#items")


def test_declined_card_then_a_good_one(shop, browser):
    register(browser, shop, "bob@shop.test")
    add_product_and_pay(browser)
    type_card(browser, "4000 0000 0000 0002")
    wait(browser, lambda d: "Your card was declined." in text_of(d, "#error"))
    assert "/_stripe/checkout/cs_" in browser.current_url  # still on the open session
    orders = requests.get(shop.root + "/api/orders", headers={"Authorization": f"Bearer {token(browser)}"}, timeout=10).json()
    assert [o["status"] for o in orders["data"]] == ["PENDING"]
    type_card(browser, "4242424242424242")
    wait(browser, EC.url_contains("/checkout/success"))
    wait(browser, lambda d: text_of(d, "#status") == "PAID")


def test_buy_a_plan_and_see_credits(shop, browser):
    register(browser, shop, "cleo@shop.test")
    browser.get(shop.root + "/account")
    wait(browser, lambda d: text_of(d, "#credits") == "0")
    browser.get(shop.root + "/")
    wait(browser, EC.element_to_be_clickable((By.CSS_SELECTOR, "[data-plan] button"))).click()
    wait(browser, EC.presence_of_element_located((By.ID, "cardnumber")))
    type_card(browser, "4242 4242 4242 4242")
    wait(browser, EC.url_contains("/checkout/success"))
    wait(browser, lambda d: text_of(d, "#status") == "PAID")
    browser.get(shop.root + "/account")
    wait(browser, lambda d: text_of(d, "#credits") == "100")
    assert text_of(browser, "#plan") == "Pro"
    assert "SUCCEEDED" in text_of(browser, "#payments")


def test_pages_send_security_headers(shop):
    for path in ["/", "/account", "/checkout/success", "/checkout/cancel"]:
        response = requests.get(shop.root + path, timeout=10)
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
