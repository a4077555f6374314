"""``workflows.webhooks``: signing and verifying messages, the endpoint configuration and
its ``[[webhooks]]`` TOML tables.

The signature vectors were computed outside Python, with
``printf '%s' '<t>.<body>' | openssl dgst -sha256 -hmac '<secret>'``.
"""

from __future__ import annotations

import sys

import pytest

from workflows.webhooks import (
    EVENTS,
    Webhook,
    event_type,
    sign,
    verify_signature,
    webhooks_from_toml,
)

T = 1_700_000_000
BODY = b'{"id":1,"type":"request.created"}'
VECTORS = [
    ("whsec_test", BODY, "931699bb4f189686864bf7f655de38fa519ab757a82485076e523a13867ef995"),
    ("whsec_test", b"", "5967f3c560522fa40cf2876ebc3c3a08551dd6959aaade3b413460591895bdcc"),
    (
        "se\u00a7ret",
        "caf\u00e9".encode(),
        "39dd6cceb911d2c53d21657cc4f3e4b850952d2f0cb9303323c2882c83977b4e",
    ),
]


# -- signing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("secret", "body", "digest"), VECTORS)
def test_sign_matches_known_vectors(secret: str, body: bytes, digest: str) -> None:
    assert sign(secret, body, T) == f"t={T},v1={digest}"
    assert sign(secret, body.decode(), T + 0.9) == f"t={T},v1={digest}"  # str body, whole s


@pytest.mark.parametrize(("secret", "body", "digest"), VECTORS)
def test_verify_accepts_known_vectors(secret: str, body: bytes, digest: str) -> None:
    assert verify_signature(secret, f"t={T},v1={digest}", body, now=T)
    assert verify_signature(secret, f"t={T},v1={digest}", body.decode(), now=T)


def test_verify_rejects_another_body_secret_or_signature() -> None:
    header = sign("whsec_test", BODY, T)
    assert verify_signature("whsec_test", header, BODY, now=T)
    assert not verify_signature("whsec_test", header, BODY + b" ", now=T)
    assert not verify_signature("whsec_other", header, BODY, now=T)
    tampered = header[:-1] + ("0" if header[-1] != "0" else "1")
    assert not verify_signature("whsec_test", tampered, BODY, now=T)
    # the time is signed too: moving it breaks the signature
    moved = header.replace(f"t={T}", f"t={T + 1}")
    assert not verify_signature("whsec_test", moved, BODY, now=T)


def test_verify_checks_the_time_within_the_tolerance() -> None:
    header = sign("s", BODY, T)
    assert verify_signature("s", header, BODY, now=T + 300)
    assert verify_signature("s", header, BODY, now=T - 300)
    assert not verify_signature("s", header, BODY, now=T + 301)
    assert not verify_signature("s", header, BODY, now=T - 301)
    assert verify_signature("s", header, BODY, now=T + 60, tolerance=60)
    assert not verify_signature("s", header, BODY, now=T + 61, tolerance=60)
    assert verify_signature("s", header, BODY, now=T + 10**9, tolerance=None)


def test_verify_uses_the_clock_by_default() -> None:
    import time

    assert verify_signature("s", sign("s", BODY, time.time()), BODY)
    assert not verify_signature("s", sign("s", BODY, time.time() - 3600), BODY)


def test_verify_takes_any_of_several_signatures_and_skips_other_schemes() -> None:
    good = sign("new", BODY, T).split(",")[1]
    old = sign("old", BODY, T).split(",")[1]
    assert verify_signature("new", f"t={T},{old},{good}", BODY, now=T)
    assert verify_signature("old", f"t={T},{old},{good}", BODY, now=T)
    assert verify_signature("new", f"t={T},v0=abc,{good}", BODY, now=T)
    assert verify_signature("new", f" t={T} , {good} ", BODY, now=T)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"t={T}",  # no signature
        sign("s", BODY, T).split(",")[1],  # no time
        f"t=abc,{sign('s', BODY, T).split(',')[1]}",
        f"t=-{T},{sign('s', BODY, T).split(',')[1]}",
        f"t={T},t={T},{sign('s', BODY, T).split(',')[1]}",
        f"t={T},v1",
        "t=\u0661\u0662,v1=00",  # non-ASCII digits
    ],
)
def test_verify_rejects_malformed_headers(header: str | None) -> None:
    assert verify_signature("s", header, BODY, now=T) is False


# -- the endpoint configuration --------------------------------------------------------------
def test_webhook_defaults() -> None:
    hook = Webhook("https://hooks.example.com/tasks", "s3")
    assert hook.name == hook.endpoint == "https://hooks.example.com/tasks"
    assert hook.events == EVENTS
    assert hook.workflows is None
    assert (hook.retry_base, hook.retry_max, hook.max_attempts) == (1.0, 300.0, 12)
    assert hook.poll_interval == 2.0
    assert "s3" not in repr(hook)  # the secret stays out of logs


def test_webhook_filters_by_event_and_workflow() -> None:
    hook = Webhook(
        "http://127.0.0.1:9/h",
        "s",
        events=["request.created", "request.overdue"],
        workflows=("expense",),
        name="tasks",
    )
    assert hook.events == frozenset({"request.created", "request.overdue"})
    assert hook.workflows == frozenset({"expense"})
    assert hook.endpoint == "tasks"
    assert hook.wants("request.created", "expense")
    assert not hook.wants("request.answered", "expense")
    assert not hook.wants("request.created", "travel")


def test_event_types_are_the_audit_actions() -> None:
    actions = ("created", "claimed", "unclaimed", "assigned", "answered", "overdue")
    for action in (*actions, "expired", "cancelled"):
        assert event_type(action) in EVENTS
    assert len(EVENTS) == 8


def test_retry_delay_doubles_up_to_the_cap() -> None:
    hook = Webhook("http://127.0.0.1:9/h", "s", retry_base=1, retry_max=300)
    assert [hook.retry_delay(n) for n in range(1, 11)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        300,
    ]
    assert hook.retry_delay(10_000) == 300
    fast = Webhook("http://127.0.0.1:9/h", "s", retry_base=0.05, retry_max=0.15)
    assert [fast.retry_delay(n) for n in (1, 2, 3)] == [0.05, 0.1, 0.15]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "ftp://example.com/x"}, "http(s) URL"),
        ({"url": "https://"}, "http(s) URL"),
        ({"url": "/relative"}, "http(s) URL"),
        ({"secret": ""}, "secret"),
        ({"events": "request.created"}, "not the string"),
        ({"events": ["request.created", "request.deleted"]}, "request.deleted"),
        ({"events": []}, "events is empty"),
        ({"workflows": "expense"}, "not the string"),
        ({"workflows": [""]}, "non-empty"),
        ({"name": ""}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"retry_base": 0}, "retry_base"),
        ({"retry_max": -1}, "retry_max"),
        ({"timeout": float("nan")}, "timeout"),
        ({"poll_interval": True}, "poll_interval"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.5}, "max_attempts"),
    ],
)
def test_webhook_rejects_bad_options(options: dict, message: str) -> None:
    arguments = {"url": "https://hooks.example.com/x", "secret": "s", **options}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Webhook(**arguments)


# -- [[webhooks]] tables ---------------------------------------------------------------------
def test_webhooks_from_toml_reads_every_table_in_order() -> None:
    data = {
        "admin_group": "admins",
        "webhooks": [
            {"url": "https://a.example.com/h", "secret": "one"},
            {
                "url": "https://b.example.com/h",
                "secret_env": "HOOK_B",
                "events": ["request.answered"],
                "workflows": ["expense"],
                "name": "b",
                "max_attempts": 3,
                "retry_base": 0.5,
            },
        ],
    }
    first, second = webhooks_from_toml(data, environ={"HOOK_B": "two"})
    assert (first.url, first.secret) == ("https://a.example.com/h", "one")
    assert first.endpoint == first.url
    assert second.secret == "two"
    assert second.events == frozenset({"request.answered"})
    assert second.workflows == frozenset({"expense"})
    assert (second.endpoint, second.max_attempts, second.retry_base) == ("b", 3, 0.5)


def test_webhooks_from_toml_without_tables_is_empty() -> None:
    assert webhooks_from_toml({}) == []
    assert webhooks_from_toml({"users": {}}) == []


def test_webhooks_from_toml_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_TEST_SECRET", "from-env")
    data = {"webhooks": [{"url": "https://a.example.com/h", "secret_env": "WEBHOOK_TEST_SECRET"}]}
    assert webhooks_from_toml(data)[0].secret == "from-env"


@pytest.mark.parametrize(
    ("webhooks", "message"),
    [
        ({"url": "https://a.example.com"}, r"webhooks\[0\]: give exactly one of secret"),
        ({"url": "https://a", "secret": "s", "secret_env": "X"}, "exactly one"),
        ({"url": "https://a", "secret_env": "UNSET_VAR"}, "'UNSET_VAR' is not set"),
        ({"url": "https://a", "secret_env": "EMPTY"}, "'EMPTY' is not set"),
        ({"secret": "s"}, "url is missing"),
        ({"url": "https://a", "secret": "s", "evnts": []}, r"unknown keys \['evnts'\]"),
        ({"url": "https://a", "secret": "s", "events": "request.created"}, "list of strings"),
        ({"url": "https://a", "secret": "s", "events": ["nope"]}, "unknown events"),
        ({"url": "mailto:a@b", "secret": "s"}, r"webhooks\[0\]: webhook url"),
    ],
)
def test_webhooks_from_toml_names_the_bad_table(webhooks: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        webhooks_from_toml({"webhooks": [webhooks]}, environ={"EMPTY": ""})


def test_webhooks_from_toml_rejects_a_non_array_and_duplicate_names() -> None:
    with pytest.raises(ValueError, match=r"array of tables"):
        webhooks_from_toml({"webhooks": {"url": "https://a"}})
    with pytest.raises(ValueError, match=r"webhooks\[0\]: must be a table"):
        webhooks_from_toml({"webhooks": ["https://a"]})
    same = {"url": "https://a.example.com/h", "secret": "s"}
    with pytest.raises(ValueError, match=r"webhooks\[1\]: a second endpoint named"):
        webhooks_from_toml({"webhooks": [same, same]})
    renamed = [same, {**same, "name": "copy"}]
    assert [h.endpoint for h in webhooks_from_toml({"webhooks": renamed})] == [
        "https://a.example.com/h",
        "copy",
    ]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is new in Python 3.11")
def test_webhooks_from_a_toml_document() -> None:
    import tomllib

    text = """
[[webhooks]]
url = "https://hooks.example.com/tasks"
secret = "s3"
events = ["request.created", "request.overdue"]

[[webhooks]]
url = "https://audit.example.com/in"
secret_env = "AUDIT_SECRET"
name = "audit"
"""
    hooks = webhooks_from_toml(tomllib.loads(text), environ={"AUDIT_SECRET": "a"})
    assert [h.endpoint for h in hooks] == ["https://hooks.example.com/tasks", "audit"]
    assert hooks[0].events == frozenset({"request.created", "request.overdue"})
