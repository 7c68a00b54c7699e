"""Standard Webhooks signing, checked against the reference `standardwebhooks` verifier."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import orjson
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from agentcost_cli.errors import InvalidInput
from agentcost_cli.notify.webhook_signing import headers, new_secret, secret_key, sign

BODY = orjson.dumps({"type": "budget.threshold_crossed", "data": {"näme": "Zoë 💸", "nested": {"list": [1, "é"]}}})


def test_new_secret_is_whsec_prefixed_32_random_bytes_and_unique() -> None:
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and b.startswith("whsec_")
    assert len(base64.b64decode(a.removeprefix("whsec_"), validate=True)) == 32
    assert a != b  # WH-02: unique per endpoint


def test_sign_matches_the_reference_signer_for_a_fixed_key() -> None:
    secret = "whsec_" + base64.b64encode(bytes(range(32))).decode()
    sig = sign([secret], "msg_1", 1700000000, b'{"a":1}')
    assert sig == Webhook(secret).sign("msg_1", datetime.fromtimestamp(1700000000, tz=UTC), '{"a":1}')


def test_reference_library_verifies_non_ascii_nested_body() -> None:
    secret = new_secret()
    now = int(time.time())
    h = headers("msg_2a", now, BODY, [secret])
    assert set(h) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert h["webhook-timestamp"] == str(now)
    Webhook(secret).verify(BODY, h)  # raises on mismatch


def test_reference_library_rejects_a_changed_body() -> None:
    secret = new_secret()
    h = headers("msg_3", int(time.time()), BODY, [secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("Zoë".encode(), b"Zoe"), h)


def test_rotation_sends_both_signatures_each_verifies_alone() -> None:
    old, new = new_secret(), new_secret()
    h = headers("msg_4", int(time.time()), BODY, [old, new])
    assert len(h["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(BODY, h)
    Webhook(new).verify(BODY, h)
    # After the overlap only the new secret is passed; the old one no longer verifies.
    after = headers("msg_4", int(time.time()), BODY, [new])
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(BODY, after)


GOOD = "whsec_" + base64.b64encode(b"x" * 32).decode()
SHORT = "whsec_" + base64.b64encode(b"x" * 8).decode()


@pytest.mark.parametrize(
    ("secrets", "msg_id"),
    [([], "msg"), (["nope"], "msg"), (["whsec_!!!"], "msg"), ([SHORT], "msg"), ([GOOD], "a.b"), ([GOOD], "")],
)
def test_bad_secret_or_id_is_refused(secrets: list[str], msg_id: str) -> None:
    with pytest.raises(InvalidInput):
        sign(secrets, msg_id, 1, b"{}")


def test_secret_key_decodes_the_base64_part() -> None:
    assert secret_key("whsec_" + base64.b64encode(b"k" * 24).decode()) == b"k" * 24
