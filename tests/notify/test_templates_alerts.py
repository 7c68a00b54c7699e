"""Email templates: plain text + HTML for every template, the alert template for every event type."""

from __future__ import annotations

import re
from dataclasses import replace

import jinja2
import pytest

from agentcost_cli.notify import templates
from agentcost_cli.notify.notice import EVENT_TYPES, Notice
from agentcost_cli.notify.templates import RenderedEmail, alert_variables, mute_target, render, render_email

EVIL = "<script>alert(1)</script> & co"
EVIL_HTML = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"

ACCOUNT_VARS: dict[str, dict[str, object]] = {
    "verify_email": {"name": "Alice", "email": "alice@example.com", "link": "https://ac.example/v?t=abc&x=1",
                     "token": "tok-123"},
    "password_reset": {"name": "Alice", "email": "alice@example.com", "link": "https://ac.example/r?t=abc&x=1",
                       "token": "tok-456"},
    "account_invite": {"name": "Bob", "email": "bob@example.com", "inviter": "Alice", "link": "https://ac.example/i",
                       "token": "tok-789"},
    "account_disabled": {"name": "Bob", "email": "bob@example.com", "when": "2026-11-20 10:15"},
    "email_changed": {"name": "Bob", "email": "bob@example.com", "new_email": "robert@example.com",
                      "when": "2026-11-20 10:15"},
    "mfa_changed": {"name": "Bob", "email": "bob@example.com", "change": "disabled", "when": "2026-11-20 10:15"},
    "password_changed": {"name": "Bob", "email": "bob@example.com", "how": "changed", "when": "2026-11-20 10:15",
                         "kept_current": True},
    "security_notice": {"event": "New sign-in", "when_utc": "2026-11-20 10:15", "source_addr": "203.0.113.7",
                        "user_agent": "curl/8.5", "account_email": "bob@example.com"},
}
# The subject each account template must keep (callers and the outbox store it).
ACCOUNT_SUBJECTS = {
    "verify_email": "Confirm your email address for agentcost",
    "password_reset": "Reset your agentcost password",
    "account_invite": "You have an agentcost account",
    "account_disabled": "Your agentcost account was disabled",
    "email_changed": "Your agentcost sign-in address was changed",
    "mfa_changed": "Two-factor authentication was disabled on your agentcost account",
    "password_changed": "Your agentcost password was changed",
    "security_notice": "agentcost security notice: New sign-in",
}


def _notice(event_type: str, **changes: object) -> Notice:
    data: dict[str, object] = {"budget": "team-a"} if event_type.startswith("budget.") else {}
    if event_type == "budget.threshold_crossed":
        data.update(percent="81.2", threshold=80)
    base = Notice(
        type=event_type,
        title=f"Title of {event_type}",
        summary=f"Summary sentence for {event_type}.",
        severity="warning",
        occurred_utc="2026-11-20T10:15:30.000000Z",
        fields=(("Project", EVIL), ("Spent", "$81.20"), ("Budget amount", "$100.00")),
        data=data,
        link="https://agentcost.example/alerts/42",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _html_structure_ok(html: str) -> None:
    lower = html.lower()
    assert lower.startswith("<!doctype html>")
    assert "<script" not in lower
    assert "javascript:" not in lower
    assert "max-width:600px" in lower
    assert 'name="color-scheme" content="light dark"' in lower
    assert "prefers-color-scheme: dark" in lower
    # nothing loaded from elsewhere: no images, stylesheets, fonts or imports
    assert not re.search(r"<(img|link|iframe|object|embed)\b", lower)
    assert "@import" not in lower
    assert "url(" not in lower
    assert not re.search(r"\bsrc\s*=", lower)


# -- every template ------------------------------------------------------------


def test_the_tests_cover_every_template_and_each_has_an_html_part() -> None:
    assert set(templates.names()) == {*ACCOUNT_VARS, "alert"}
    for name in templates.names():
        assert (templates.TEMPLATE_DIR / f"{name}.html.j2").is_file(), name
    assert not any(n.startswith("_") for n in templates.names())


@pytest.mark.parametrize("name", sorted(ACCOUNT_VARS))
def test_account_templates_render_both_parts(name: str) -> None:
    variables = ACCOUNT_VARS[name]
    email = render_email(name, dict(variables))
    assert isinstance(email, RenderedEmail)
    assert email.subject == ACCOUNT_SUBJECTS[name]
    # render() keeps its contract and agrees with render_email()
    assert render(name, dict(variables)) == (email.subject, email.text)
    assert not email.text.startswith("Subject:")
    _html_structure_ok(email.html)
    assert f"<title>{ACCOUNT_SUBJECTS[name]}</title>" in email.html
    for key in ("email", "account_email", "new_email", "token", "inviter", "event", "source_addr", "user_agent"):
        if key in variables:
            assert str(variables[key]) in email.text, key
            assert str(variables[key]) in email.html, key
    if "link" in variables:
        link = str(variables["link"])
        assert link in email.text
        assert link.replace("&", "&amp;") in email.html  # escaped inside the attribute and the text
        assert f'href="{link.replace("&", "&amp;")}"' in email.html


def test_render_keeps_its_exact_output() -> None:
    subject, body = render("account_disabled", {"name": "Bob", "email": "b@example.com", "when": "2026-11-20 10:15"})
    assert subject == "Your agentcost account was disabled"
    assert body == ("Hello Bob,\n\nThe account b@example.com was disabled at 2026-11-20 10:15 UTC. "
                    "Its sessions and API keys no longer work.\n")


@pytest.mark.parametrize("name", sorted(ACCOUNT_VARS))
def test_a_missing_variable_raises(name: str) -> None:
    for key in ACCOUNT_VARS[name]:  # including kept_current, only read by an `{% if %}`
        partial = {k: v for k, v in ACCOUNT_VARS[name].items() if k != key}
        with pytest.raises(jinja2.UndefinedError):
            render_email(name, partial)
        with pytest.raises(jinja2.UndefinedError):
            render(name, partial)


def test_account_html_escapes_and_text_does_not() -> None:
    email = render_email("account_disabled", {"name": EVIL, "email": "b@example.com", "when": "now"})
    assert EVIL in email.text
    assert EVIL_HTML in email.html
    assert "<script>alert(1)</script>" not in email.html


def test_security_notice_without_address_or_client() -> None:
    variables = {**ACCOUNT_VARS["security_notice"], "source_addr": None, "user_agent": None}
    email = render_email("security_notice", variables)
    assert "unknown address" in email.text
    assert "unknown client" in email.html
    assert "None" not in email.text


def test_an_unknown_template_raises() -> None:
    with pytest.raises(jinja2.TemplateNotFound):
        render_email("no_such_template", {})


# -- the alert template ----------------------------------------------------------


@pytest.mark.parametrize("event_type", EVENT_TYPES)
@pytest.mark.parametrize("severity", ["info", "warning", "critical"])
def test_alert_renders_for_every_event_type(event_type: str, severity: str) -> None:
    notice = _notice(event_type, severity=severity)
    email = render_email("alert", alert_variables(notice))
    prefix = "" if severity == "info" else f"{severity.upper()}: "
    assert email.subject == f"[agentcost] {prefix}Title of {event_type}"
    word = severity.upper()
    for part in (email.text, email.html):
        assert notice.summary in part
        assert notice.title in part
        assert notice.occurred_utc in part
        assert word in part
        assert event_type in part  # the footer says which alerts these are
        assert "agentcost alerts mute " in part
        assert notice.link is not None and notice.link in part
    assert re.search(rf"^\s*Severity:\s+{word}$", email.text, re.M)
    for label, value in notice.fields:
        assert re.search(rf"^  {re.escape(label)}:\s+{re.escape(value)}$", email.text, re.M), label
        assert f">{label}</th>" in email.html
    _html_structure_ok(email.html)


def test_alert_text_fields_are_aligned() -> None:
    email = render_email("alert", alert_variables(_notice("rule.triggered")))
    lines = [ln for ln in email.text.splitlines() if re.match(r"^  [A-Z][\w ]*:  ", ln)]
    assert len(lines) == 5  # three fields, severity, occurred
    columns = {len(re.match(r"^  [^:]+:\s+", ln).group(0)) for ln in lines}  # type: ignore[union-attr]
    assert len(columns) == 1


def test_alert_html_escapes_and_text_does_not() -> None:
    notice = _notice("anomaly.detected", title=f"Project {EVIL} is unusual", summary=f"Project {EVIL} spent a lot.")
    email = render_email("alert", alert_variables(notice))
    assert EVIL in email.text
    assert f"Project {EVIL} spent a lot." in email.text
    assert "&lt;" not in email.text and "&amp;" not in email.text
    assert "<script" not in email.html.lower()
    assert f"Project {EVIL_HTML} spent a lot." in email.html
    assert re.search(rf"<td [^>]*>{re.escape(EVIL_HTML)}</td>", email.html)  # the field's value cell
    assert email.subject == f"[agentcost] WARNING: Project {EVIL} is unusual"  # a header, not HTML


def test_alert_subject_is_one_line() -> None:
    email = render_email("alert", alert_variables(_notice("test.message", title="two\nlines\r\n\n here")))
    assert email.subject == "[agentcost] WARNING: two lines here"


def test_alert_without_link() -> None:
    email = render_email("alert", alert_variables(_notice("test.message", link=None)))
    assert "Details:" not in email.text
    assert "href=" not in email.html
    assert "None" not in email.text
    with_link = render_email("alert", alert_variables(_notice("test.message")))
    assert "Details: https://agentcost.example/alerts/42" in with_link.text
    assert 'href="https://agentcost.example/alerts/42"' in with_link.html


def test_alert_missing_variable_raises() -> None:
    variables = alert_variables(_notice("test.message"))
    with pytest.raises(jinja2.UndefinedError):
        render_email("alert", {"notice": variables["notice"]})  # no product
    notice = dict(variables["notice"])
    del notice["summary"]
    with pytest.raises(jinja2.UndefinedError):
        render_email("alert", {**variables, "notice": notice})


def test_alert_accepts_a_notice_object_too() -> None:
    notice = _notice("budget.threshold_crossed")
    assert render_email("alert", {"notice": notice, "product": "agentcost"}) == render_email(
        "alert", alert_variables(notice))


def test_budget_threshold_progress_bar() -> None:
    email = render_email("alert", alert_variables(_notice("budget.threshold_crossed")))
    assert "81.2% of the budget spent (alert threshold 80%)" in email.text
    assert "[################----] 81.2%" in email.text
    assert "81.2% of the budget spent (alert threshold 80%)" in email.html
    assert 'width="81%"' in email.html and "width:81%" in email.html
    assert 'width="19%"' in email.html


def test_budget_bar_clamps_over_100_percent() -> None:
    notice = _notice("budget.threshold_crossed", data={"budget": "b", "percent": "134.5", "threshold": 100})
    email = render_email("alert", alert_variables(notice))
    assert "[####################] 134.5%" in email.text
    assert 'width="100%" height="12"' in email.html
    assert "ac-track" not in email.html.split("</style>", 1)[1]  # no empty remainder cell


def test_budget_bar_is_absent_for_other_types() -> None:
    email = render_email("alert", alert_variables(_notice("rule.triggered", data={"percent": "50"})))
    assert "of the budget spent" not in email.text
    assert "of the budget spent" not in email.html


def test_price_change_table() -> None:
    changes = [
        {"provider": "openai", "model": "gpt-4o", "component": "input", "old_usd_per_mtok": "2.50",
         "new_usd_per_mtok": "3.00", "change_pct": "20.00"},
        {"provider": "openai", "model": "gpt-4o", "component": "output", "old_usd_per_mtok": "10.00",
         "new_usd_per_mtok": "8.00", "change_pct": "-20.00"},
        {"provider": "anthropic", "model": "claude-x", "component": "cache_read", "old_usd_per_mtok": None,
         "new_usd_per_mtok": "0.10", "change_pct": None},
    ]
    notice = _notice("price.changed", data={"changes": changes, "source": "genai-prices"}, severity="info")
    email = render_email("alert", alert_variables(notice))
    assert "  openai gpt-4o input: $2.50 -> $3.00 (+20.00%)" in email.text
    assert "  openai gpt-4o output: $10.00 -> $8.00 (-20.00%)" in email.text
    assert "  anthropic claude-x cache_read: (none) -> $0.10\n" in email.text
    assert "&rarr;" in email.html
    assert re.search(r">\$2\.50</td><td[^>]*>&rarr;</td><td[^>]*>\$3\.00</td><td[^>]*>\+20\.00%</td>", email.html)
    assert re.search(r">\$10\.00</td><td[^>]*>&rarr;</td><td[^>]*>\$8\.00</td><td[^>]*>-20\.00%</td>", email.html)


@pytest.mark.parametrize(("event_type", "data", "target"), [
    ("budget.threshold_crossed", {"budget": "team-a"}, "budget:team-a"),
    ("rule.triggered", {"rule": "opus-spike"}, "rule:opus-spike"),
    ("channel.disabled", {"channel": "ops-hook"}, "channel:ops-hook"),
    ("anomaly.detected", {"project": "web"}, "kind:anomaly"),
    ("price.changed", {}, "kind:price"),
])
def test_mute_target(event_type: str, data: dict[str, object], target: str) -> None:
    notice = _notice(event_type, data=data)
    assert mute_target(notice) == target
    assert mute_target(alert_variables(notice)["notice"]) == target
    email = render_email("alert", alert_variables(notice))
    assert f"To mute alerts like this one: agentcost alerts mute {target}\n" in email.text
    assert f"<code>agentcost alerts mute {target}</code>" in email.html


def test_mute_hint_is_shell_quoted() -> None:
    notice = _notice("budget.recovered", data={"budget": "team a; rm -rf ~"})
    email = render_email("alert", alert_variables(notice))
    assert "agentcost alerts mute 'budget:team a; rm -rf ~'" in email.text
    assert "agentcost alerts mute &#39;budget:team a; rm -rf ~&#39;" in email.html
