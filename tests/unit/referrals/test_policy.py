"""Loading and validating the routing policy: every error names `source:line:`; reload keeps a good policy."""

from __future__ import annotations

import textwrap

import pytest

from services.referrals.policy import (
    DEFAULT_POLICY_PATH,
    PolicyError,
    PolicyHolder,
    Webhook,
    load_policy,
    parse_policy,
)

GOOD = """\
receivers:
  - name: ias
    agency: ias
    service_level_school_days: 10
    fields: [child_id, first_name, last_name, date_of_birth, sen_needs]
  - name: nas
    agency: nas
    service_level_school_days: 10
    fields: [child_id, first_name, last_name, date_of_birth]
    requires_consent: share_with_nas
    webhook: {url: "https://nas.example.org/in", secret_env: SIGNPOST_WEBHOOK_SECRET_NAS, max_attempts: 3}
route:
  routes:
    - matchers: ['send="true"']
      receiver: ias
      continue: true
    - matchers: ['autistic="true"']
      receiver: nas
"""


def error(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(textwrap.dedent(text), "p.yaml")
    return str(caught.value)


def test_the_default_policy_loads():
    policy = load_policy()
    assert policy.source == str(DEFAULT_POLICY_PATH)
    assert set(policy.receivers) == {"exclusions_officer", "ias", "reu", "nas", "virtual_school", "ace", "coram"}  # the last 3: issue 11
    assert policy.receivers["exclusions_officer"].service_level_school_days == 5
    assert "upn" not in policy.receivers["nas"].fields
    assert policy.receivers["nas"].requires_consent == "share_with_nas"


def test_a_good_policy_parses_with_lines():
    policy = parse_policy(GOOD, "p.yaml")
    assert policy.receivers["nas"].webhook == Webhook(
        "https://nas.example.org/in", "SIGNPOST_WEBHOOK_SECRET_NAS", 3
    )
    assert policy.receivers["ias"].webhook is None
    assert policy.receivers["ias"].fields == (
        "child_id",
        "first_name",
        "last_name",
        "date_of_birth",
        "sen_needs",
    )
    first, second = policy.route.routes
    assert (first.line, first.continue_, second.continue_) == (14, True, False)
    assert first.matchers[0].line == 14
    assert [r.name for r in policy.receivers_for_agency("nas")] == ["nas"]


def test_webhook_max_attempts_defaults_to_8():
    policy = parse_policy(GOOD.replace(", max_attempts: 3", ""))
    assert policy.receivers["nas"].webhook.max_attempts == 8


def mutate(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize(
    "text, where, what",
    [
        ("receivers: [\n  - name: x\n", "p.yaml:2:", "invalid YAML"),  # a block item inside [ ]
        ("receivers: []\nroute:\n  receiver: ias\n routes: []\n", "p.yaml:4:", "invalid YAML"),
        ("- just\n- a list\n", "p.yaml:1:", "must be a mapping"),
        ("", "p.yaml:1:", "empty"),
        (GOOD + "routing: {}\n", "p.yaml:19:", "unknown key 'routing'"),
        (GOOD + "route: {}\n", "p.yaml:19:", "duplicate key 'route'"),
        ("receivers: {ias: 1}\nroute: {}\n", "p.yaml:1:", "receivers must be a list"),
        ("route: {}\n", "p.yaml:1:", "missing 'receivers'"),
        (mutate("name: nas", "name: ias"), "p.yaml:6:", "duplicate receiver 'ias'"),
        (mutate("agency: nas", "agency: acme"), "p.yaml:7:", "unknown agency 'acme'"),  # ace is a real agency since issue 11
        (
            mutate("date_of_birth, sen_needs", "date_of_birth, sen_need"),
            "p.yaml:5:",
            "unknown field 'sen_need'",
        ),
        (
            mutate("[child_id, first_name, last_name, date_of_birth]", "[child_id, first_name]"),
            "p.yaml:9:",
            "must include last_name, date_of_birth",
        ),
        (mutate("service_level_school_days: 10", "service_level_school_days: 0"), "p.yaml:4:", "positive"),
        (mutate("service_level_school_days: 10", "service_level_school_days: ten"), "p.yaml:4:", "positive"),
        (mutate("service_level_school_days: 10", "service_level_school_days: true"), "p.yaml:4:", "positive"),
        (
            mutate("requires_consent: share_with_nas", "requires_consent: yes_please"),
            "p.yaml:10:",
            "requires_consent must be null or one of",
        ),
        (mutate('"https://nas.example.org/in"', '"ftp://nas.example.org/in"'), "p.yaml:11:", "http(s)"),
        (
            mutate("receiver: nas", "receiver: national_autistic_society"),
            "p.yaml:18:",
            "unknown receiver 'national_autistic_society'",
        ),
        (mutate("continue: true", "contine: true"), "p.yaml:16:", "unknown key 'contine' in a route"),
        (mutate("continue: true", "continue: maybe"), "p.yaml:16:", "continue must be true or false"),
        (mutate("'send=\"true\"'", "'send=true'"), "p.yaml:14:", "bad matcher"),
        (mutate("'send=\"true\"'", "'sen=\"true\"'"), "p.yaml:14:", "unknown label 'sen'"),
        (mutate("'send=\"true\"'", "'send=~\"(true\"'"), "p.yaml:14:", "invalid regex"),
        (mutate("'send=\"true\"'", "'send=\"yes\"'"), "p.yaml:14:", "'yes' is not one of the values of send"),
        (
            mutate("route:\n", "route:\n  continue: true\n"),
            "p.yaml:13:",
            "root route must not have 'continue'",
        ),
    ],
)
def test_validation_errors_name_source_and_line(text, where, what):
    message = error(text)
    assert message.startswith(where + " "), message
    assert what in message, message


def test_matchers_each_report_their_own_line():
    text = mutate(
        "- matchers: ['autistic=\"true\"']",
        "- matchers:\n        - 'autistic=\"true\"'\n        - 'reason=~\"suspension\"'",
    )
    message = error(text)
    assert message.startswith("p.yaml:19: "), message
    assert "matches none of the values of reason" in message  # anchored: a prefix matches nothing


def test_unreadable_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match=r"missing\.yaml:1: cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_holder_refuses_to_start_on_a_bad_policy(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("receivers: []\nroute: {receiver: nobody}\n")
    with pytest.raises(PolicyError, match=r"policy\.yaml:2: route refers to unknown receiver 'nobody'"):
        PolicyHolder(path)


def test_holder_with_no_path_uses_the_default():
    assert PolicyHolder(None).policy.source == str(DEFAULT_POLICY_PATH)


SECRET = "whsec_" + "c2lnbnBvc3QtdGVzdHMtb25seS0zMi1ieXRlcy1rZXkh"  # tests only


def test_reload_keeps_the_old_policy_on_a_bad_file_and_swaps_on_a_good_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNPOST_WEBHOOK_SECRET_NAS", SECRET)
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    holder = PolicyHolder(path)
    old = holder.policy

    path.write_text(GOOD.replace("continue: true", "contine: true"))
    message = holder.reload()
    assert message is not None and message.startswith(f"{path}:16: ")
    assert holder.policy is old

    path.write_text(GOOD.replace("service_level_school_days: 10", "service_level_school_days: 3", 1))
    assert holder.reload() is None
    assert holder.policy is not old
    assert holder.policy.receivers["ias"].service_level_school_days == 3


# --------------------------------------------------------------------------- webhooks: signed, encrypted (issue 12)


@pytest.mark.parametrize("url", ["http://nas.example.org/in", "http://10.0.0.5/in"])
def test_a_plain_http_webhook_is_refused_unless_loopback(url):
    assert "must be https://" in error(GOOD.replace("https://nas.example.org/in", url))


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/in", "http://localhost/in", "http://[::1]:80/in"])
def test_a_loopback_webhook_may_be_plain_http(url):
    assert parse_policy(GOOD.replace("https://nas.example.org/in", url)).receivers["nas"].webhook.url == url


@pytest.mark.parametrize("hook", ['{url: "https://nas.example.org/in"}', '{url: "https://nas.example.org/in", secret_env: null}'])
def test_a_webhook_without_a_secret_is_refused(hook):
    text = GOOD.replace('{url: "https://nas.example.org/in", secret_env: SIGNPOST_WEBHOOK_SECRET_NAS, max_attempts: 3}', hook)
    assert "secret_env" in error(text)


@pytest.mark.parametrize("value,expected", [
    (None, "is not set"),
    ("", "is not set"),
    ("not-a-standard-secret", "must be whsec_"),
    ("whsec_c2hvcnQ=", "must be whsec_"),  # 5 bytes
])  # fmt: skip
def test_the_service_refuses_to_start_when_a_webhook_secret_is_missing_or_weak(tmp_path, monkeypatch, value, expected):
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    monkeypatch.delenv("SIGNPOST_WEBHOOK_SECRET_NAS", raising=False)
    if value is not None:
        monkeypatch.setenv("SIGNPOST_WEBHOOK_SECRET_NAS", value)
    with pytest.raises(PolicyError, match=expected):
        PolicyHolder(path)
    monkeypatch.setenv("SIGNPOST_WEBHOOK_SECRET_NAS", SECRET)
    assert PolicyHolder(path).policy.receivers["nas"].webhook is not None
