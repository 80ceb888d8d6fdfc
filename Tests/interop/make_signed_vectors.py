"""Writes webhook payloads signed by the official stripe-python SDK, for WebhookSignatureTests to verify in Swift."""
import json
import sys
import time

import stripe

payloads = [
    '{"id":"evt_py_1","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_test_1"}}}',
    '{\n  "id": "evt_py_2",\n  "object": "event",\n  "type": "payment_intent.succeeded",\n  "note": "caf\u00e9 \u2615 & <tags>"\n}\n',
    '{"id":"evt_py_3","object":"event","type":"charge.refunded","data":{"object":{"amount":500,"currency":"jpy"}}}',
]
secrets = ["whsec_python_one", "whsec_" + "x" * 32, "whsec_with/odd+chars="]
now = int(time.time())
out = []
for payload, secret in zip(payloads, secrets):
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=now)
    stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=300)  # the SDK agrees with itself
    out.append({"secret": secret, "timestamp": now, "payload": payload, "header": header})
json.dump(out, sys.stdout)
