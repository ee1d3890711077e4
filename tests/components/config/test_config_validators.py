"""The config validators as plain function calls: each check's accept/refuse edge and the exact message the
user reads, without running the program or the plan.

Expected values are literals: EC2's published instance shapes, S3's bucket naming rules, AWS region names,
Kubernetes quantities and durations, and the house error shape (`key = value: allowed: ...`).
Fast enough to run once per mutant under `make mutation`."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest
from pulumi.runtime import config as runtime_config

from components.config import (
    ConfigError,
    DocRagConfig,
    PlatformConfig,
    Secrets,
    check_bucket_name,
    check_cron,
    check_duration,
    check_image,
    check_ipv4_network,
    check_quantity,
    check_region,
    copy_region_problems,
    duration_seconds,
    has_digest,
    load_config,
    node_shape,
    parse_config,
    validate_settings,
    version_tuple,
)
from components.config.errors import FieldError, describe
from components.config.observability import alertmanager_url_problem
from components.config.validators import is_ipv4

DIGEST = "sha256:" + "a" * 64
RELEASE = {"blue": {"image": "doc-rag/api:v1"}, "green": {"image": "doc-rag/api:v2"}}


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    return caught.value.problems


def refused(check, value: str) -> str:
    with pytest.raises(ValueError) as caught:
        check(value)
    return str(caught.value)


# --- images, quantities, durations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("image", ["doc-rag/api:v1", "registry.example.com:5000/team/api:1.2.3", f"api@{DIGEST}",
                                   f"api:latest@{DIGEST}", "a.b-c_d/e:T_1.x-y"])
def test_check_image_accepts_pinned_references(image):
    assert check_image(image) == image


@pytest.mark.parametrize(("image", "message"), [
    ("Not An Image", "allowed: an image reference such as registry/name:tag or name@sha256:<digest>"),
    ("api:", "allowed: an image reference such as registry/name:tag or name@sha256:<digest>"),
    ("doc-rag/api", "allowed: a pinned image (a tag or an @sha256 digest); an untagged image means latest"),
    ("doc-rag/api:latest", "allowed: a pinned image tag or digest; `latest` is not pinned"),
])
def test_check_image_refuses_with_the_reason(image, message):
    assert refused(check_image, image) == message


def test_has_digest():
    assert has_digest(f"api@{DIGEST}") is True
    assert has_digest(f"api:v1@{DIGEST}") is True
    assert has_digest("api:v1") is False
    assert has_digest("Not An Image") is False


def test_check_quantity():
    for value in ("100Gi", "512Mi", "1", "1.5Ti", "10k", "3E"):
        assert check_quantity(value) == value
    for value in ("lots", "100GB", "Gi", "-1Gi", "1.Gi"):
        assert refused(check_quantity, value) == "allowed: a Kubernetes quantity such as 100Gi or 512Mi"


def test_check_duration():
    for value in ("10s", "500ms", "1m30s", "2h", "1.5s"):
        assert check_duration(value) == value
    for value in ("ten", "5", "5d", "", "s"):
        assert refused(check_duration, value) == "allowed: a duration such as 10s, 500ms, 1m30s"


@pytest.mark.parametrize(("value", "seconds"), [
    ("1m30s", 90.0), ("500ms", 0.5), ("2h", 7200.0), ("1.5s", 1.5), ("1h1m1s", 3661.0), ("30s", 30.0),
])
def test_duration_seconds(value, seconds):
    assert duration_seconds(value) == pytest.approx(seconds)


# --- cluster: node shapes, networks --------------------------------------------------------------------------------

@pytest.mark.parametrize(("instance_type", "shape"), [
    ("m6i.xlarge", (4, 16)), ("m6i.large", (2, 8)), ("c6i.2xlarge", (8, 16)), ("r6i.xlarge", (4, 32)),
    ("m7a.24xlarge", (96, 384)), ("c5.4xlarge", (16, 32)),
    ("t3.xlarge", None), ("m6i.huge", None), ("m6i", None), ("m6g.xlarge", None),
])
def test_node_shape_from_ec2s_published_shapes(instance_type, shape):
    assert node_shape(instance_type) == shape


def test_check_ipv4_network():
    assert check_ipv4_network("10.0.0.0/16") == "10.0.0.0/16"
    assert check_ipv4_network("10.0.0.0/16", prefixes=(16, 20)) == "10.0.0.0/16"
    assert check_ipv4_network("10.0.0.0/20", prefixes=(16, 20)) == "10.0.0.0/20"
    assert check_ipv4_network("0.0.0.0/0") == "0.0.0.0/0"
    assert refused(check_ipv4_network, "10.0.1.0/16") == (
        "'10.0.1.0/16' is not allowed: an IPv4 network address such as 10.0.0.0/16 (no host bits set)")
    assert refused(check_ipv4_network, "fd00::/64") == "'fd00::/64' is not allowed: IPv4 only"
    with pytest.raises(ValueError) as caught:
        check_ipv4_network("10.0.0.0/8", prefixes=(16, 20))
    assert str(caught.value) == "'10.0.0.0/8' is not allowed: a prefix between /16 and /20"
    with pytest.raises(ValueError, match="between /16 and /20"):
        check_ipv4_network("10.0.0.0/21", prefixes=(16, 20))


# --- platform: chart versions, add-ons ------------------------------------------------------------------------------

@pytest.mark.parametrize(("version", "parts"), [
    ("v1.21.2", (1, 21, 2)), ("1.21.2-rc.1", (1, 21, 2)), ("4.15.1-beta-2", (4, 15, 1)), ("0.34.0", (0, 34, 0)),
])
def test_version_tuple(version, parts):
    assert version_tuple(version) == parts


def test_installs_and_any_release():
    everything = PlatformConfig()
    assert everything.installs("istio") is True and everything.any_release() is True
    some = PlatformConfig.model_validate({"istio": {"install": False, "version": "1.30.5"}})
    assert some.installs("istio") is False and some.installs("certManager") is True
    assert PlatformConfig(enabled=False).installs("istio") is False
    assert PlatformConfig(enabled=False).any_release() is False
    addons = ("ingressNginx", "certManager", "istio", "awsLoadBalancerController", "metricsServer",
              "clusterAutoscaler", "trivyOperator")
    none = PlatformConfig.model_validate({addon: {"install": False, "version": "99.0.0"} for addon in addons})
    assert none.any_release() is False
    one = PlatformConfig.model_validate({addon: {"install": addon == "trivyOperator", "version": "99.0.0"}
                                         for addon in addons})
    assert one.any_release() is True


def test_release_color_picks_the_named_colour():
    release = parse_config({"release": RELEASE}).release
    assert release.color("blue").image == "doc-rag/api:v1"
    assert release.color("green").image == "doc-rag/api:v2"


# --- backups: cron, bucket, region ---------------------------------------------------------------------------------

def test_check_cron():
    for value in ("0 3 * * 0", "0 3 * * 1-6", "*/15 0,12 1-5/2 * *"):
        assert check_cron(value) == value
    for value in ("0 3 * *", "daily", "0 3 * * * *", "a b c d e"):
        assert refused(check_cron, value) == (
            "allowed: a five-field cron schedule (minute hour day month weekday) such as 0 3 * * 0")


BUCKET_REFUSAL = (
    "allowed: an S3 bucket name: 3-63 characters, lower-case letters, digits, hyphens and dots, starting and ending "
    "with a letter or digit, e.g. doc-rag-pg-backups; not an IP address, no '..', no reserved prefix "
    "['xn--', 'sthree-', 'amzn-s3-demo-'] or suffix ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3']")


@pytest.mark.parametrize("bucket", ["doc-rag-pg-backups", "abc", "a.b-c", "a" * 63])
def test_check_bucket_name_accepts_s3_names(bucket):
    assert check_bucket_name(bucket) == bucket


@pytest.mark.parametrize("bucket", ["ab", "a" * 64, "Doc-Rag", "-abc", "abc-", "a..b", "192.168.1.10", "xn--abc",
                                    "sthree-abc", "amzn-s3-demo-abc", "abc-s3alias", "abc--ol-s3", "abc.mrap",
                                    "abc--x-s3", "abc--table-s3"])
def test_check_bucket_name_refuses_what_s3_refuses(bucket):
    assert refused(check_bucket_name, bucket) == BUCKET_REFUSAL


def test_check_region():
    for region in ("eu-west-1", "us-gov-west-1", "ap-southeast-2", "cn-north-1"):
        assert check_region(region) == region
    for region in ("europe", "eu-west", "xx-west-1"):
        assert refused(check_region, region) == (
            "allowed: an AWS region name such as eu-west-1, us-east-1 or ap-southeast-2")


# --- observability: the Alertmanager URL ---------------------------------------------------------------------------

WHAT = "an http:// or https:// URL host[:port][/path], e.g. http://alertmanager.monitoring.svc:9093"


@pytest.mark.parametrize("url", ["http://alertmanager.monitoring.svc:9093", "https://am.example.com",
                                 "http://10.0.0.5:9093/prefix/", "http://am/a.b_c~d-e/f"])
def test_alertmanager_urls_accepted(url):
    assert alertmanager_url_problem(url) is None


@pytest.mark.parametrize(("url", "problem"), [
    ("http://am:99999", f"{WHAT}; the port is not a number in 1-65535"),
    ("http://am:port", f"{WHAT}; the port is not a number in 1-65535"),
    ("ftp://am", WHAT),
    ("http://", WHAT),
    ("am:9093", WHAT),
    ("http://user:pw@am", f"{WHAT}, without credentials (they would be rendered in clear into the prometheus-config "
                          "ConfigMap)"),
    ("http://user@am", f"{WHAT}, without credentials (they would be rendered in clear into the prometheus-config "
                       "ConfigMap)"),
    ("http://am/?a=1", f"{WHAT}, without a query or fragment"),
    ("http://am/#x", f"{WHAT}, without a query or fragment"),
    ("http://am/?", f"{WHAT}, without a query or fragment"),
    ("http://am/#", f"{WHAT}, without a query or fragment"),
    ("http://am:0", WHAT),
    ("http://Am_x", WHAT),
    ("http://[::1]:9093", WHAT),
    ("http://am/a b", f"{WHAT}; the path may hold letters, digits and . _ ~ - between slashes"),
    ("http://am//", f"{WHAT}; the path may hold letters, digits and . _ ~ - between slashes"),
])
def test_alertmanager_urls_refused(url, problem):
    assert alertmanager_url_problem(url) == problem


def test_a_refused_alertmanager_url_is_shown_without_its_credentials():
    assert problems_of({"release": RELEASE, "observability": {"alertmanagerUrl": "ftp://user:pw@am"}}) == [
        f"observability.alertmanagerUrl = 'ftp://[credentials]@am': allowed: {WHAT}"]


def test_is_ipv4():
    assert is_ipv4("10.0.0.5") is True
    assert is_ipv4("::1") is False
    assert is_ipv4("am") is False


# --- the error shape: _problems, parse_config, validate_settings ---------------------------------------------------

def test_field_error_and_secrets_hold_what_they_are_given():
    error = FieldError("minNodes", 9, "allowed: at most 5")
    assert (error.field, error.value, error.allowed, str(error)) == ("minNodes", 9, "allowed: at most 5",
                                                                     "allowed: at most 5")
    first, second = object(), object()
    secrets = Secrets(first, second)  # type: ignore[arg-type]
    assert secrets.postgres_password is first and secrets.grafana_admin_password is second


def test_describe_quotes_strings_and_writes_the_rest_as_json():
    assert describe("x") == "'x'"
    assert describe(5) == "5"
    assert describe([1, "a"]) == '[1, "a"]'
    assert describe(None) == "null"
    assert describe(True) == "true"


def test_config_error_lists_every_problem():
    error = ConfigError(["a: one", "b: two"])
    assert error.problems == ["a: one", "b: two"]
    assert str(error) == "invalid doc-rag stack config:\n  - a: one\n  - b: two"


def test_problems_name_the_key_path_the_value_and_what_is_allowed():
    assert problems_of({"release": {**RELEASE, "canaryWeight": 33, "extra": 1}, "cluster": {"minNodes": 9}}) == [
        "cluster.minNodes = 9: allowed: at most maxNodes (5)",
        "release.extra = 1: unknown key (check the spelling against the config reference in README.md)",
    ]
    assert problems_of({}) == ["release: required key is missing"]
    assert problems_of({"release": {**RELEASE, "steps": "x"}, "domain": 5}) == [
        "domain = 5: Input should be a valid string",
        "release.steps = 'x': Input should be a valid list",
    ]
    assert problems_of({"release": RELEASE, "domain": "x"}) == [
        "domain = 'x': allowed: a lower-case DNS name with at least two labels, e.g. api.docrag.example.com"]


def test_a_mapping_value_is_not_echoed_and_a_field_error_names_its_field():
    assert problems_of({"release": RELEASE, "cluster": {"mode": "existing", "kubeconfig": {"a": 1}}}) == [
        "cluster.kubeconfig: Input should be a valid string"]
    assert problems_of({"release": {**RELEASE, "canaryWeight": 33}}) == [
        "release.canaryWeight = 33: allowed: 0 or one of release.steps [5, 25, 50, 100]"]
    assert problems_of({"release": RELEASE, "platform": {"acmeEmail": None}}) == [
        "platform.acmeEmail: required with clusterIssuer: true (Let's Encrypt's contact for expiry notices; an "
        "address on your own domain)"]


def test_parse_config_returns_the_model():
    model = parse_config({"release": RELEASE, "domain": "api.example.org"})
    assert isinstance(model, DocRagConfig) and model.domain == "api.example.org"


def test_validate_settings_reads_strings_and_json_and_names_every_problem():
    model = validate_settings({"domain": "api.example.org", "kubernetesVersion": "1.35",
                               "release": json.dumps(RELEASE), "traffic": "null"})
    assert (model.domain, model.kubernetesVersion, model.release.blue.image) == ("api.example.org", "1.35",
                                                                                 "doc-rag/api:v1")
    with pytest.raises(ConfigError) as caught:
        validate_settings({"bogus": "1", "zzz": "2", "cluster": "{", "traffic": "null"})
    allowed = ("['cluster', 'costAssumptions', 'domain', 'grafanaAdminPassword', 'kubernetesVersion', "
               "'observability', 'platform', 'postgres', 'postgresPassword', 'release', 'traffic']")
    assert caught.value.problems == [
        f"bogus: unknown key; allowed: {allowed}",
        f"zzz: unknown key; allowed: {allowed}",
        "cluster: not a structured value; allowed: a YAML mapping in Pulumi.<stack>.yaml",
        "release: required key is missing (activeColor, canaryWeight, blue.image, green.image)",
    ]
    with pytest.raises(ConfigError) as caught:
        validate_settings({"release": json.dumps(RELEASE), "domain": "x"})
    assert caught.value.problems == [
        "domain = 'x': allowed: a lower-case DNS name with at least two labels, e.g. api.docrag.example.com"]


def test_validate_settings_keeps_reading_after_a_bad_structured_value():
    with pytest.raises(ConfigError) as caught:
        validate_settings({"cluster": "{", "release": json.dumps(RELEASE), "traffic": "[", "observability": "x"})
    assert caught.value.problems == [
        "cluster: not a structured value; allowed: a YAML mapping in Pulumi.<stack>.yaml",
        "traffic: not a structured value; allowed: a YAML mapping in Pulumi.<stack>.yaml",
        "observability: not a structured value; allowed: a YAML mapping in Pulumi.<stack>.yaml",
    ]


def test_copy_region_problems():
    eks = parse_config({"release": RELEASE, "postgres": {"backup": {"copyRegion": "eu-central-1"}}})
    assert copy_region_problems(eks, "eu-west-1") == []
    assert copy_region_problems(eks, "eu-central-1") == [
        "postgres.backup.copyRegion = 'eu-central-1': allowed: a region other than the stack's own (aws:region "
        "eu-central-1); a copy in the same region survives no regional outage"]
    assert copy_region_problems(parse_config({"release": RELEASE}), None) == []


# --- load_config: the stack's config through the SDK, under pulumi's mocks ----------------------------------------

class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return args.name, args.inputs

    def call(self, args):
        return {}


@pytest.fixture
def stack_config(monkeypatch):
    """Set the running stack's config as the engine does: (values, the keys it holds encrypted)."""
    # A project name other than the config namespace: the keys are read as `doc-rag:*` whatever the project.
    pulumi.runtime.set_mocks(_Mocks(), project="another-project", stack="teststack", preview=False)
    monkeypatch.delenv("PULUMI_CONFIG", raising=False)

    def set_config(values: dict[str, str], secret: tuple[str, ...] = (), env: dict[str, str] | None = None):
        runtime_config.set_all_config(values, list(secret))
        if env is not None:
            monkeypatch.setenv("PULUMI_CONFIG", json.dumps(env))

    yield set_config
    runtime_config.set_all_config({}, [])


SECRETS = ("doc-rag:postgresPassword", "doc-rag:grafanaAdminPassword")
SECRET_VALUES = {"doc-rag:postgresPassword": "test-value-1", "doc-rag:grafanaAdminPassword": "test-value-2"}


def test_load_config_returns_the_model_and_the_secrets(stack_config):
    stack_config({**SECRET_VALUES, "doc-rag:release": json.dumps(RELEASE), "doc-rag:domain": "api.example.org",
                  "aws:region": "eu-west-1", "other:key": "x"}, SECRETS)
    model, secrets = load_config()
    assert (model.domain, model.release.green.image) == ("api.example.org", "doc-rag/api:v2")
    assert isinstance(secrets.postgres_password, pulumi.Output)
    assert isinstance(secrets.grafana_admin_password, pulumi.Output)


def test_load_config_reads_keys_the_engine_passes_in_the_environment(stack_config):
    stack_config(SECRET_VALUES, SECRETS,
                 env={"doc-rag:release": json.dumps(RELEASE), "doc-rag:domain": "env.example.org"})
    model, _ = load_config()
    assert model.domain == "env.example.org"


def test_load_config_refuses_a_secret_key_in_clear_naming_it_never_its_value(stack_config):
    stack_config({**SECRET_VALUES, "doc-rag:release": json.dumps(RELEASE)}, ("doc-rag:grafanaAdminPassword",))
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith(
        "postgresPassword: a plain, unencrypted value in Pulumi.teststack.yaml; allowed: only an encrypted value")
    assert "test-value-1" not in str(caught.value)


def test_load_config_names_missing_secrets_beside_the_config_problems(stack_config):
    stack_config({"doc-rag:release": json.dumps(RELEASE), "doc-rag:domain": "x"})
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.problems == [
        "domain = 'x': allowed: a lower-case DNS name with at least two labels, e.g. api.docrag.example.com",
        "postgresPassword: not set; allowed: a secret, set it with `pulumi config set --secret postgresPassword -s "
        "teststack`",
        "grafanaAdminPassword: not set; allowed: a secret, set it with `pulumi config set --secret "
        "grafanaAdminPassword -s teststack`",
    ]


def test_load_config_names_a_missing_secret_of_a_valid_config(stack_config):
    stack_config({"doc-rag:grafanaAdminPassword": "test-value-2", "doc-rag:release": json.dumps(RELEASE)},
                 ("doc-rag:grafanaAdminPassword",))
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.problems == [
        "postgresPassword: not set; allowed: a secret, set it with `pulumi config set --secret postgresPassword -s "
        "teststack`"]


def test_load_config_refuses_a_copy_in_the_stacks_own_region(stack_config):
    backup = {"postgres": json.dumps({"backup": {"copyRegion": "eu-west-1"}})}
    stack_config({**SECRET_VALUES, "doc-rag:release": json.dumps(RELEASE), "aws:region": "eu-west-1",
                  **{f"doc-rag:{key}": value for key, value in backup.items()}}, SECRETS)
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.problems == [
        "postgres.backup.copyRegion = 'eu-west-1': allowed: a region other than the stack's own (aws:region "
        "eu-west-1); a copy in the same region survives no regional outage"]
