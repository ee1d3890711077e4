"""Rules on what a scan result can be tied to: an image reference that names its content (an @sha256 digest).

A tag can be moved after the image was scanned (in the pull request, by the in-cluster scanner); a digest
cannot. `images-digest` says so for every container pinned by a tag only (advisory). A workload whose owner
has decided that digests are required carries REQUIRE_DIGEST_ANNOTATION: "true" (components/api.py sets it
on the API Deployments with `release.requireDigest: true`), and there `images-digest-required` makes the
same finding mandatory. Images that are not pinned at all are `images-pinned`'s finding, not these rules'.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from policies.k8s import annotations_of, containers, pod_spec
from policies.model import ResourceRule, Settings
from policies.workload_rules import image_problem

REQUIRE_DIGEST_ANNOTATION = "doc-rag/require-digest"
_DIGEST_MARK = "@sha256:"


def _requires_digest(props: Mapping[str, Any]) -> bool:
    return str(annotations_of(props).get(REQUIRE_DIGEST_ANNOTATION, "")).lower() == "true"


def _tag_only(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(container label, image) of every container pinned by a tag but without a digest."""
    for label, container in containers(spec):
        image = container.get("image")
        if isinstance(image, str) and not image_problem(image) and _DIGEST_MARK not in image:
            yield label, image


def _message(label: str, image: str) -> str:
    return (f"{label}: image {image!r} is pinned by tag only; a scan result is tied to a digest, pin "
            "name:tag@sha256:<digest>")


def check_digest_advised(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    spec = pod_spec(type_, props)
    if spec is None or _requires_digest(props):  # there images-digest-required reports it, as mandatory
        return
    for label, image in _tag_only(spec):
        yield _message(label, image)


def check_digest_required(type_: str, props: Mapping[str, Any], settings: Settings) -> Iterator[str]:
    spec = pod_spec(type_, props)
    if spec is None or not _requires_digest(props):
        return
    for label, image in _tag_only(spec):
        yield f"{_message(label, image)} ({REQUIRE_DIGEST_ANNOTATION}: true, from release.requireDigest)"


IMAGES_DIGEST = ResourceRule(
    name="images-digest",
    description="Container images carry an @sha256 digest: a tag can be moved after its image was scanned.",
    level="advisory",
    check=check_digest_advised,
)
IMAGES_DIGEST_REQUIRED = ResourceRule(
    name="images-digest-required",
    description=(f"Workloads annotated {REQUIRE_DIGEST_ANNOTATION}: \"true\" (the API Deployments with "
                 "release.requireDigest) pin every image by @sha256 digest."),
    level="mandatory",
    check=check_digest_required,
)

RULES = [IMAGES_DIGEST, IMAGES_DIGEST_REQUIRED]
