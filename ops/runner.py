"""Run `__main__.py` for a stack under the Pulumi SDK's own test monitor and record what it registers.

This is the offline stand-in for the engine: config is fed as the CLI feeds it (see stackconfig), the
program is executed with runpy inside `pulumi.runtime.test` (which waits for every registration), and
each RegisterResource request is recorded with its type, name, parent, provider and inputs, exactly as
a provider would receive them. Secret values stay wrapped in Pulumi's secret envelope.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import pulumi
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.mocks import MockMonitor

from ops.mocks import FakeCloud
from ops.stackconfig import PROJECT, PROJECT_DIR, StackConfig, load_stack_config

STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass
class Registered:
    """One RegisterResource call as the engine would see it."""

    type: str
    name: str
    urn: str
    parent: str  # parent URN ("" for the stack itself)
    provider: str  # provider reference "<urn>::<id>" ("" = default provider)
    custom: bool
    inputs: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)
    # Resource options that keep data through a mistaken `pulumi destroy` (the plan shows them).
    protect: bool = False
    retain_on_delete: bool = False


@dataclass
class RunResult:
    stack: str
    preview: bool
    config: StackConfig
    resources: list[Registered]
    outputs: dict[str, Any]  # stack outputs; secret ones wrapped in the secret envelope

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def named(self, name: str) -> Registered:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]


class RecordingMonitor(MockMonitor):
    """The SDK's MockMonitor, also keeping each request's parent, provider and dependencies."""

    def __init__(self, mocks: FakeCloud):
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        from pulumi.runtime import rpc

        response = super().RegisterResource(request)
        if request.type != STACK_TYPE:
            self.registered.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    provider=request.provider,
                    custom=bool(request.custom),
                    inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                    depends_on=list(request.dependencies),
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                )
            )
        return response


@contextlib.contextmanager
def _project_on_path() -> Iterator[None]:
    """The program imports `components` relative to the project, as under `pulumi up`."""
    old_cwd, old_path = os.getcwd(), list(sys.path)
    os.chdir(PROJECT_DIR)
    sys.path.insert(0, str(PROJECT_DIR))
    try:
        yield
    finally:
        os.chdir(old_cwd)
        sys.path[:] = old_path


async def _resolve_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    from pulumi.runtime.rpc import wrap_rpc_secret

    resolved: dict[str, Any] = {}
    for name, value in outputs.items():
        output = pulumi.Output.from_input(value)
        plain = await output.future(with_unknowns=True)
        resolved[name] = wrap_rpc_secret(plain) if await output.is_secret() else plain
    return resolved


def run_program(stack: str, overrides: tuple[str, ...] | list[str] = (), *, preview: bool = False,
                stack_config: Optional[StackConfig] = None) -> RunResult:
    """Execute the program once. Raises whatever the program raises (ConfigError for bad config)."""
    config = stack_config or load_stack_config(stack, overrides)
    mocks = FakeCloud(preview=preview)
    monitor = RecordingMonitor(mocks)
    runtime_settings.ROOT.set(None)  # a fresh root stack per run, as a new `pulumi up` would have
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    set_all_config(config.engine_config(), config.engine_secret_keys())
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__")
        root = runtime_settings.get_root_resource()
        exported = dict(getattr(root, "outputs", {}) or {})

        async def collect() -> None:
            outputs.update(await _resolve_outputs(exported))

        return pulumi.Output.from_input(collect())

    with _project_on_path():
        program()
    return RunResult(stack, preview, config, monitor.registered, outputs)
