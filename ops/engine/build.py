"""`make engine`: the real Pulumi engine and a local Kubernetes control plane, built from Go modules.

Every binary comes from a module the Go module proxy serves, built with the ordinary `go` client and
stamped with the true version of its source. Modules whose go.mod has local `replace`s are built
through wrapper modules of ours (recipes/<name>/go.mod, committed pins) that restate those replaces
as published versions. The result lands in ENGINE_HOME/<hash of the recipe>/bin and is reused as long
as the recipe (this file and recipes/) is unchanged: a warm `make engine` only checks the stamps.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

RECIPES = Path(__file__).resolve().parent / "recipes"

# Versions: each is the release of the source the binary is built from (and what it reports).
PULUMI_VERSION = "3.276.0"  # pkg/v3 and sdk/v3; at least the Python SDK's release (requirements.txt)
KUBERNETES_VERSION = "1.34.4"  # k8s.io/kubernetes; staging modules at v0.34.4
ETCD_VERSION = "3.6.17"
KWOK_VERSION = "0.8.0"
# pulumi-kubernetes v4.25.0: the proxy serves provider/v4 only as this pseudo-version, whose commit
# (f47bc2d6f199) is the one the v4.25.0 release tag points at; its sdk/v4 sibling is tagged v4.25.0.
PROVIDER_VERSION = "4.25.0"
PROVIDER_MODULE = "github.com/pulumi/pulumi-kubernetes/provider/v4@v4.0.0-20260115033456-f47bc2d6f199"
PROVIDER_SDK = "github.com/pulumi/pulumi-kubernetes/sdk/v4@v4.25.0"
# Our Python language host (recipes/pulumi/cmd/pulumi-language-python): its own version.
LANGUAGE_HOST_VERSION = "1.0.0"

BINARIES = (
    "pulumi", "pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-kubernetes",
    "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok",
)


class EngineBuildError(Exception):
    """A build step failed; the message names the step, its log and the log's last lines."""


def engine_home() -> Path:
    configured = os.environ.get("DOC_RAG_ENGINE_HOME")
    return (Path(configured).expanduser() if configured else Path.home() / ".cache" / "doc-rag" / "engine").resolve()


def recipe_files() -> dict[str, Path]:
    """What the engine is built from: this file (versions, flags, steps) and every file under recipes/."""
    files = {"build.py": Path(__file__).resolve()}
    files.update({p.relative_to(RECIPES).as_posix(): p for p in sorted(RECIPES.rglob("*")) if p.is_file()})
    return files


def recipe_hash() -> str:
    digest = hashlib.sha256()
    for name, path in recipe_files().items():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def engine_dir() -> Path:
    return engine_home() / recipe_hash()


def bin_dir() -> Path:
    return engine_dir() / "bin"


def kwok_stage_dir(target: Optional[Path] = None) -> Path:
    return (target or engine_dir()) / "share" / "kwok-stages"


def pulumi_home() -> Path:
    """PULUMI_HOME of the engine: its plugin cache holds the provider we built."""
    return engine_dir() / "pulumi-home"


def _go_env(**extra: str) -> dict[str, str]:
    # GOTOOLCHAIN=local: build with the machine's Go, never fetch another toolchain behind the user's back.
    return {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-trimpath", **extra}


def _x(symbol: str, value: str) -> str:
    return f"-X {symbol}={value}"


@dataclass(frozen=True)
class Step:
    name: str
    outputs: tuple[str, ...]
    run: Callable[["Builder"], None]


class Builder:
    def __init__(self, target: Path, echo: Callable[[str], None]):
        self.target = target
        self.bin = target / "bin"
        self.logs = target / "logs"
        self.echo = echo
        self.log: Optional[Path] = None

    def go(self, args: list[str], cwd: Path, **env: str) -> str:
        return self.sh(["go", *args], cwd, _go_env(**env))

    def sh(self, args: list[str], cwd: Path, env: Optional[dict[str, str]] = None) -> str:
        assert self.log is not None
        with self.log.open("a") as log:
            log.write(f"$ (cd {cwd} && {' '.join(args)})\n")
            log.flush()
            done = subprocess.run(args, cwd=cwd, env=env or dict(os.environ), stdout=subprocess.PIPE,
                                  stderr=log, text=True)
            log.write(done.stdout)
        if done.returncode != 0:
            raise subprocess.CalledProcessError(done.returncode, args)
        return done.stdout

    def module_dir(self, module_at_version: str) -> Path:
        """The module's directory in the module cache (downloaded if needed)."""
        info = json.loads(self.go(["mod", "download", "-json", module_at_version], RECIPES))
        return Path(info["Dir"])


def _writable_copy(source: Path, target: Path) -> None:
    """A copy of a module-cache directory (read-only there) that the build may change."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)


def build_kubernetes(b: Builder) -> None:
    version = f"v{KUBERNETES_VERSION}"
    major, minor, _ = KUBERNETES_VERSION.split(".")
    stamps = []
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        stamps += [_x(f"{package}.gitVersion", version), _x(f"{package}.gitMajor", major),
                   _x(f"{package}.gitMinor", minor), _x(f"{package}.gitTreeState", "clean")]
    mains = [f"k8s.io/kubernetes/cmd/{name}"
             for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")]
    # One `go build` for the four mains: the packages they share compile once.
    b.go(["build", "-ldflags", " ".join(["-s", "-w", *stamps]), "-o", f"{b.bin}/", *mains], RECIPES / "kubernetes")


def build_etcd(b: Builder) -> None:
    # etcd's version is a constant of go.etcd.io/etcd/api/v3/version, set by its release.
    b.go(["build", "-ldflags", "-s -w", "-o", str(b.bin / "etcd"), "go.etcd.io/etcd/server/v3"], RECIPES / "etcd")


def build_kwok(b: Builder) -> None:
    b.go(["install", "-ldflags", f"-s -w {_x('sigs.k8s.io/kwok/pkg/consts.Version', KWOK_VERSION)}",
          f"sigs.k8s.io/kwok/cmd/kwok@v{KWOK_VERSION}"], RECIPES, GOBIN=str(b.bin))
    # kwok's own Stages ship in its module: keep the release's copy beside the binary (ops/local uses them).
    _writable_copy(b.module_dir(f"sigs.k8s.io/kwok@v{KWOK_VERSION}") / "kustomize" / "stage", kwok_stage_dir(b.target))


def build_pulumi(b: Builder) -> None:
    stamps = [_x("github.com/pulumi/pulumi/sdk/v3/go/common/version.Version", f"v{PULUMI_VERSION}"),
              _x("main.hostVersion", LANGUAGE_HOST_VERSION)]
    b.go(["build", "-ldflags", " ".join(["-s", "-w", *stamps]), "-o", f"{b.bin}/",
          "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi", "./cmd/pulumi-language-python"], RECIPES / "pulumi")
    # The exec shim ships in the sdk module; module files carry no mode, so it is made executable here.
    sdk = b.module_dir(f"github.com/pulumi/pulumi/sdk/v3@v{PULUMI_VERSION}")
    shim = b.bin / "pulumi-language-python-exec"
    shutil.copyfile(sdk / "python" / "cmd" / "pulumi-language-python-exec", shim)
    shim.chmod(0o755)


def build_provider(b: Builder) -> None:
    """The provider's main go:embeds files that `go generate` writes and the module zip lacks: build a
    writable copy of the module, its local sdk/v4 replace pointed at the published sdk/v4 release."""
    work = b.target / "src" / "pulumi-kubernetes-provider"
    _writable_copy(b.module_dir(PROVIDER_MODULE), work)
    sdk_path, sdk_version = PROVIDER_SDK.split("@")
    b.go(["mod", "edit", f"-replace={sdk_path}={sdk_path}@{sdk_version}"], work)
    main = work / "cmd" / "pulumi-resource-kubernetes"
    b.go(["run", "./generate.go"], main, VERSION=PROVIDER_VERSION, GOFLAGS="-mod=mod")
    stamp = _x("github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version", PROVIDER_VERSION)
    b.go(["build", "-ldflags", f"-s -w {stamp}", "-o", str(b.bin / "pulumi-resource-kubernetes"), "."], main,
         GOFLAGS="-mod=mod -trimpath")
    shutil.rmtree(work)


def install_provider_plugin(b: Builder) -> None:
    env = {**os.environ, "PULUMI_HOME": str(b.target / "pulumi-home"), "PULUMI_SKIP_UPDATE_CHECK": "true"}
    b.sh([str(b.bin / "pulumi"), "plugin", "install", "resource", "kubernetes", f"v{PROVIDER_VERSION}",
          "--file", str(b.bin / "pulumi-resource-kubernetes"), "--reinstall"], b.target, env)


STEPS = (
    Step(f"kubernetes v{KUBERNETES_VERSION} (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)",
         ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"), build_kubernetes),
    Step(f"etcd v{ETCD_VERSION}", ("etcd",), build_etcd),
    Step(f"kwok v{KWOK_VERSION} and its Stages", ("kwok",), build_kwok),
    Step(f"pulumi v{PULUMI_VERSION} and the Python language host",
         ("pulumi", "pulumi-language-python", "pulumi-language-python-exec"), build_pulumi),
    Step(f"pulumi-resource-kubernetes v{PROVIDER_VERSION}", ("pulumi-resource-kubernetes",), build_provider),
)


def expected_versions() -> dict[str, tuple[list[str], str]]:
    """binary -> (arguments that print its version, the text the output must contain)."""
    return {
        "pulumi": (["version"], f"v{PULUMI_VERSION}"),
        "pulumi-language-python": (["-version"], LANGUAGE_HOST_VERSION),
        "kube-apiserver": (["--version"], f"Kubernetes v{KUBERNETES_VERSION}"),
        "kube-controller-manager": (["--version"], f"Kubernetes v{KUBERNETES_VERSION}"),
        "kube-scheduler": (["--version"], f"Kubernetes v{KUBERNETES_VERSION}"),
        "kubectl": (["version", "--client"], f"Client Version: v{KUBERNETES_VERSION}"),
        "etcd": (["--version"], f"etcd Version: {ETCD_VERSION}"),
        "kwok": (["--version"], KWOK_VERSION),
    }


def version_mismatches(bin_path: Path) -> list[str]:
    """What is missing or reports another version than the recipe's (empty when all is right)."""
    problems = []
    for name in BINARIES:
        if not (bin_path / name).exists():
            problems.append(f"{name}: missing from {bin_path}")
    for name, (args, expected) in expected_versions().items():
        if not (bin_path / name).exists():
            continue
        done = subprocess.run([str(bin_path / name), *args], capture_output=True, text=True,
                              env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"})
        if expected not in done.stdout + done.stderr:
            problems.append(f"{name}: expected {expected!r} from `{name} {' '.join(args)}`, "
                            f"got {(done.stdout + done.stderr).strip()[:200]!r}")
    plugin = bin_path.parent / "pulumi-home" / "plugins" / f"resource-kubernetes-v{PROVIDER_VERSION}"
    if not plugin.is_dir():
        problems.append(f"resource plugin kubernetes v{PROVIDER_VERSION}: not installed in {plugin.parent}")
    return problems


def _elapsed(start: float) -> str:
    seconds = int(time.monotonic() - start)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def _tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "\n".join(text[-lines:])


def _prune_other_builds(keep: Path) -> None:
    """Engines of older recipes are a gigabyte each and never used again: remove them."""
    for sibling in keep.parent.iterdir():
        if sibling != keep and (sibling / "bin").is_dir():
            shutil.rmtree(sibling, ignore_errors=True)


def build(echo: Callable[[str], None] = print) -> Path:
    """Build what is missing or wrong and return the bin directory; raises EngineBuildError. A warm run only
    checks what each binary reports (seconds)."""
    target = engine_dir()
    complete = target / "bin" / ".complete"
    if complete.exists():
        problems = version_mismatches(target / "bin")
        if not problems:
            return target / "bin"
        echo("engine: rebuilding what no longer matches its recipe:\n  " + "\n  ".join(problems))
        complete.unlink()
        for name in BINARIES:  # a damaged or foreign binary is rebuilt with its step
            if any(problem.startswith(f"{name}:") for problem in problems):
                (target / "bin" / name).unlink(missing_ok=True)
    if shutil.which("go") is None:
        raise EngineBuildError("the `go` command is not on PATH: the engine is built from Go modules")
    builder = Builder(target, echo)
    builder.bin.mkdir(parents=True, exist_ok=True)
    builder.logs.mkdir(parents=True, exist_ok=True)
    echo(f"engine: building into {target} (cold builds take a while; each step is logged under {builder.logs})")
    started = time.monotonic()
    steps = [*STEPS, Step(f"install plugin resource kubernetes v{PROVIDER_VERSION}", (), install_provider_plugin)]
    for number, step in enumerate(steps, 1):
        if step.outputs and all((builder.bin / name).exists() for name in step.outputs):
            echo(f"engine: [{number}/{len(steps)}] {step.name}: already built")
            continue
        builder.log = builder.logs / f"{number}-{step.outputs[0] if step.outputs else 'plugin'}.log"
        builder.log.write_text("")
        step_start = time.monotonic()
        echo(f"engine: [{number}/{len(steps)}] {step.name} ...")
        try:
            step.run(builder)
        except BaseException as error:  # Ctrl-C too: a half-written binary must not count as built next time
            for name in step.outputs:
                (builder.bin / name).unlink(missing_ok=True)
            if not isinstance(error, (subprocess.CalledProcessError, OSError, KeyError, ValueError)):
                raise
            raise EngineBuildError(f"{step.name} failed ({error}); log: {builder.log}\n"
                                   f"--- last lines of {builder.log} ---\n{_tail(builder.log)}") from None
        echo(f"engine: [{number}/{len(steps)}] {step.name}: done in {_elapsed(step_start)}")
    problems = version_mismatches(builder.bin)
    if problems:
        raise EngineBuildError("the built engine does not match its recipe:\n  " + "\n  ".join(problems))
    complete.write_text(json.dumps({"recipe": recipe_hash(), "built_in_seconds": int(time.monotonic() - started)}))
    _prune_other_builds(target)
    echo(f"engine: ready in {_elapsed(started)}: {builder.bin}")
    return builder.bin


def main(argv: list[str]) -> int:
    """`python -m ops engine [--bin]`: build (or reuse) the engine; --bin prints only its bin directory."""
    if argv == ["--bin"]:
        print(bin_dir())
        return 0
    if argv:
        print(f"usage: python -m ops engine [--bin]  (unknown arguments: {' '.join(argv)})", file=sys.stderr)
        return 2
    try:
        bin_path = build(lambda line: print(line, flush=True))
    except EngineBuildError as error:
        print(f"engine: error: {error}", file=sys.stderr)
        return 1
    print(bin_path)
    return 0
