"""kubernetes-validate's `validate`, with each schema read and each validator built once per process.

kubernetes_validate.validate lists its schema versions, reads the kind's schema and parses the 1.5 MB
_definitions.json again for every object. This does the same steps in the same order (the version chosen,
the file names, the Draft 2020-12 validator, the errors raised) but keeps what it read.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import jsonschema
from kubernetes_validate import utils
from referencing import Registry, Resource


@functools.lru_cache(maxsize=None)
def _versions() -> tuple[str, ...]:
    return tuple(utils.all_versions())


@functools.lru_cache(maxsize=None)
def _definitions(schema_dir: str, desired_version: str) -> Resource:
    return Resource.from_contents(utils.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json",
                                                        desired_version))


@functools.lru_cache(maxsize=None)
def _validator(schema_dir: str, kind: str, api_version: str, desired_version: str) -> Any:
    """The validator of one kind; FileNotFoundError (not cached) when the schema does not exist."""
    schema = utils.schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{api_version}.json",
                                   desired_version)
    registry = Resource.from_contents(schema) @ Registry()
    registry = _definitions(schema_dir, desired_version) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validate(data: dict[str, Any], desired_version: str, strict: bool = False) -> str:
    """As kubernetes_validate.validate: the schema version used, or its ValidationError / SchemaNotFoundError."""
    if desired_version.startswith("v"):
        desired_version = desired_version[1:]
    if utils.major_minor(desired_version) > _versions()[-1]:
        raise utils.VersionNotSupportedError(version=utils.major_minor(desired_version))
    version = [v for v in _versions() if utils.major_minor(v) <= utils.major_minor(desired_version)][-1]
    api_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", data["apiVersion"])
    schema_dir = f"v{version}-local" + ("-strict" if strict else "")
    try:
        validator = _validator(schema_dir, data["kind"], api_version, desired_version)
    except FileNotFoundError:
        raise utils.SchemaNotFoundError(version=utils.major_minor(desired_version), kind=data["kind"],
                                        api_version=data["apiVersion"]) from None
    try:
        validator.validate(data)
    except jsonschema.ValidationError as error:
        raise utils.ValidationError(error, version=utils.major_minor(version)) from None
    return utils.major_minor(version)
