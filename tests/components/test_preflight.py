"""Preflight (issue 4): each release invariant has a case that trips it, and a tripped rule stops the
program before anything is registered (the plan exits 2)."""

from __future__ import annotations

import pytest
import yaml

from components import preflight as pf
from components.config import ColorConfig, ConfigError, DocRagConfig, parse_config
from components.routers import istio, nginx
from ops import runner
from tests.conftest import FIXTURES as ALL_FIXTURES
from tests.conftest import run_plan

FIXTURES = ALL_FIXTURES / "workloads"


def _config(active: str = "blue", weight: int = 0, blue: tuple[str, int] = ("doc-rag/api:v1.0.0", 3),
            green: tuple[str, int] = ("doc-rag/api:v1.1.0", 3)) -> DocRagConfig:
    """A config built without the model's validators, as preflight must not rely on them."""
    valid = {"image": "doc-rag/api:v1.0.0"}
    base = parse_config({"release": {"blue": valid, "green": valid}})
    release = base.release.model_copy(update={
        "activeColor": active, "canaryWeight": weight,
        "blue": ColorConfig.model_construct(image=blue[0], replicas=blue[1]),
        "green": ColorConfig.model_construct(image=green[0], replicas=green[1]),
    })
    return base.model_copy(update={"release": release})


def _fixture(name: str) -> dict:
    return yaml.safe_load((FIXTURES / name).read_text())


@pytest.mark.parametrize("active,weight", [("blue", 0), ("blue", 5), ("blue", 25), ("blue", 50), ("blue", 100),
                                           ("green", 0), ("green", 50)])
def test_a_sound_release_passes(active, weight):
    pf.preflight(_config(active, weight))


# (case, config, key path the message names, text it contains)
TRIPS = [
    ("canary colour has no replicas", _config(weight=5, green=("doc-rag/api:v1.1.0", 0)),
     "release.green.replicas = 0", "green receives 5% of traffic"),
    ("active colour has no replicas", _config(weight=50, blue=("doc-rag/api:v1.0.0", 0)),
     "release.blue.replicas = 0", "blue receives 50% of traffic"),
    ("after the flip, the new active colour has no replicas", _config("green", 0, green=("doc-rag/api:v1.1.0", 0)),
     "release.green.replicas = 0", "green receives 100% of traffic"),
    ("receiving colour has no image", _config(weight=5, green=("", 3)), "release.green.image = ''",
     "allowed: a pinned image"),
    ("canary runs the active image", _config(weight=25, green=("doc-rag/api:v1.0.0", 3)),
     "release.green.image = 'doc-rag/api:v1.0.0'", "the same image as the active colour blue"),
]


@pytest.mark.parametrize("case,config,path,text", TRIPS, ids=[t[0] for t in TRIPS])
def test_rule_trips(case, config, path, text):
    with pytest.raises(ConfigError) as error:
        pf.preflight(config)
    message = str(error.value)
    assert path in message and text in message, message


def test_a_weight_outside_the_steps_is_refused_by_config_alone():
    """Not a preflight rule (it would duplicate the model's validator, message and all): config refuses it."""
    assert not hasattr(pf, "check_weight")
    with pytest.raises(ConfigError, match=r"release\.canaryWeight.*allowed: 0 or one of release\.steps"):
        parse_config({"release": {"canaryWeight": 33, "blue": {"image": "doc-rag/api:v1.0.0"},
                                  "green": {"image": "doc-rag/api:v1.1.0"}}})


def test_rules_are_precise():
    """A colour that receives nothing may be empty or share the image: retired blue at weight 100,
    the same image in both colours at weight 0 (nothing to compare)."""
    pf.preflight(_config(weight=100, blue=("doc-rag/api:v1.0.0", 0)))
    pf.preflight(_config(weight=0, green=("doc-rag/api:v1.0.0", 0)))
    pf.preflight(_config(weight=0, green=("doc-rag/api:v1.0.0", 3)))


@pytest.mark.parametrize("fixture,text", [
    ("canary-ingress-path-mismatch.yaml", "allowed: exactly the main Ingress doc-rag-ingress routes"),
    ("canary-ingress-wrong-class.yaml", "ingressClassName = 'alb'"),
])
def test_route_rule_trips_on_broken_canary(fixture, text):
    config = _config(weight=5)
    main = nginx.main_ingress_manifest(config, nginx.main_route(config))
    assert nginx.check_routes(main, nginx.canary_ingress_manifest(config, nginx.main_route(config))) == []
    problems = nginx.check_routes(main, _fixture(fixture))
    assert len(problems) == 1 and text in problems[0], problems


@pytest.mark.parametrize("fixture,text", [
    ("virtualservice-unknown-subset.yaml", "subset api-service-mesh/canary: not defined"),
    ("virtualservice-weights-not-100.yaml", "weights sum to 120: allowed: exactly 100"),
])
def test_subset_rule_trips_on_broken_virtual_service(fixture, text):
    rule = istio.destination_rule_manifest()
    assert istio.check_subsets(rule, istio.virtual_service_manifest(_config(weight=5))) == []
    problems = istio.check_subsets(rule, _fixture(fixture))
    assert len(problems) == 1 and text in problems[0], problems


def test_subset_on_another_host_trips():
    rule = istio.destination_rule_manifest()
    vs = istio.virtual_service_manifest(_config(weight=5))
    vs["spec"]["http"][0]["route"][1]["destination"]["host"] = "api-service"  # selects one colour only
    problems = istio.check_subsets(rule, vs)
    assert problems and "api-service/green: not defined" in problems[0]


@pytest.mark.program
def test_tripped_preflight_registers_nothing(monkeypatch):
    """Under the SDK monitor: ConfigError before the first registration (dev retires green; weight 5
    would send it traffic)."""
    monitors: list[runner.RecordingMonitor] = []

    class Capturing(runner.RecordingMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            monitors.append(self)

    monkeypatch.setattr(runner, "RecordingMonitor", Capturing)
    with pytest.raises(ConfigError, match=r"release\.green\.replicas = 0: green receives 5% of traffic"):
        runner.run_program("dev", ["release.canaryWeight=5"])
    assert monitors and monitors[0].registered == []


@pytest.mark.program
def test_plan_exits_2_on_preflight(tmp_path):
    outcome, printed = run_plan(tmp_path, "dev", ("release.canaryWeight=5",))
    assert outcome.exit_code == 2
    assert "release.green.replicas = 0" in printed


def test_one_replica_serves_and_a_canary_at_one_percent_is_still_a_canary():
    pf.preflight(_config(weight=5, green=("doc-rag/api:v1.1.0", 1)))
    with pytest.raises(ConfigError) as error:
        pf.preflight(_config(weight=1, green=("doc-rag/api:v1.0.0", 3)))
    assert error.value.problems == [
        "release.green.image = 'doc-rag/api:v1.0.0': the same image as the active colour blue while canaryWeight is 1; "
        "allowed: a different image (a canary of the serving build tests nothing)"]


def test_an_edge_outside_the_registry_is_refused_before_any_router_is_asked():
    config = _config(weight=5)
    unknown = config.model_copy(update={"traffic": config.traffic.model_copy(update={"edge": "traefik"})})
    with pytest.raises(ConfigError) as error:
        pf.preflight(unknown)
    assert error.value.problems == [
        "traffic.edge = 'traefik': allowed: nginx | istio | gateway (the router whose pods the public NLB fronts)"]


def test_the_routers_that_render_for_the_edge_are_asked_and_the_others_are_not(monkeypatch):
    from components.routers import REGISTRY

    monkeypatch.setattr(REGISTRY["nginx"], "preflight", lambda config: ["nginx: broken route"])
    config = _config(weight=5)
    with pytest.raises(ConfigError) as error:
        pf.preflight(config)  # the default edge is nginx
    assert error.value.problems == ["nginx: broken route"]
    gateway = config.model_copy(update={"traffic": config.traffic.model_copy(update={"edge": "gateway"})})
    pf.preflight(gateway)  # nginx does not render behind the gateway edge
