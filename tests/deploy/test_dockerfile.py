"""The multi-target Dockerfile, without a Docker engine.

It is parsed with Docker's own parser (the `dockerfile` package) and checked
against the chart: one target per rendered image, the right console script,
the ports the chart declares, the uid the pods run as. Then each target's
build is replayed here: the build stages' `uv` steps run for real, in a copy of
the build context filtered by .dockerignore (bind mounts emulated), and the
resulting /app/.venv must run the service and hold no dev dependency.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import dockerfile
import pytest
import yaml

from . import k8s

DOCKERFILE = k8s.ROOT / "Dockerfile"
DOCKERIGNORE = k8s.ROOT / ".dockerignore"
VALUES = yaml.safe_load((k8s.CHART / "values.yaml").read_text())


@dataclass
class Stage:
    name: str
    base: str
    commands: list[dockerfile.Command] = field(default_factory=list)

    def of(self, cmd: str) -> list[dockerfile.Command]:
        return [c for c in self.commands if c.cmd == cmd]


def _stages() -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "FROM":
            base, _as, name = command.value
            current = stages[name] = Stage(name, base)
        elif current is not None:
            current.commands.append(command)
    return stages


def _global_args() -> dict[str, str]:
    args = {}
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "FROM":
            break
        if command.cmd == "ARG":
            key, _, value = command.value[0].partition("=")
            args[key] = value
    return args


def _chain(stages: dict[str, Stage], name: str) -> list[Stage]:
    """The stage and the stages it builds on, base first."""
    chain = [stages[name]]
    while chain[0].base in stages:
        chain.insert(0, stages[chain[0].base])
    return chain


def _targets() -> dict[str, str]:
    """Dockerfile target -> console script, from the chart's components (enabled by
    default or not: realtime is off until NATS is configured, its image still builds)."""
    return {
        c["image"]["repository"].rsplit("/", 1)[-1]: c["command"][0]
        for c in VALUES["components"].values()
    }


def _venv_stage(stages: dict[str, Stage], target: str) -> str:
    (copy,) = [c for c in stages[target].of("COPY") if c.value == ("/app/.venv", "/app/.venv")]
    (flag,) = [f for f in copy.flags if f.startswith("--from=")]
    return flag.removeprefix("--from=")


def _distribution(script: str) -> str:
    (entry,) = importlib.metadata.entry_points(group="console_scripts", name=script)
    assert entry.dist is not None
    return entry.dist.name


class TestStatic:
    def test_buildkit_syntax_is_declared(self) -> None:
        # RUN --mount needs BuildKit's Dockerfile frontend.
        assert DOCKERFILE.read_text().startswith("# syntax=docker/dockerfile:1")

    def test_uv_version_matches_the_makefile(self) -> None:
        makefile = (k8s.ROOT / "Makefile").read_text()
        (make_uv,) = re.findall(r"^UV_VERSION := (\S+)$", makefile, re.M)
        (builder_arg,) = [c for c in _stages()["builder"].of("ARG") if "UV_VERSION" in c.value[0]]
        assert builder_arg.value[0] == f"UV_VERSION={make_uv}"

    def test_python_matches_the_workspace(self) -> None:
        image = _global_args()["PYTHON_IMAGE"]
        assert image.startswith(f"python:{sys.version_info.major}.{sys.version_info.minor}-")

    @pytest.mark.parametrize("target", sorted(_targets()))
    def test_target_runs_the_service_as_the_chart_expects(self, target: str) -> None:
        stages = _stages()
        script = _targets()[target]
        stage = stages[target]
        (entrypoint,) = stage.of("ENTRYPOINT")
        (cmd,) = stage.of("CMD")
        assert entrypoint.json and list(entrypoint.value) == [script]
        assert cmd.json and list(cmd.value) == ["serve"]
        (component,) = [c for c in VALUES["components"].values() if c["command"] == [script]]
        exposed = {int(p) for e in stage.of("EXPOSE") for p in e.value}
        assert exposed == {p["port"] for p in component["ports"].values()}
        users = [c.value[0] for s in _chain(stages, target) for c in s.of("USER")]
        pod = VALUES["podSecurityContext"]
        assert users[-1] == f"{pod['runAsUser']}:{pod['runAsGroup']}"

    @pytest.mark.parametrize("target", sorted(_targets()))
    def test_build_stage_installs_only_the_service(self, target: str) -> None:
        stages = _stages()
        build = stages[_venv_stage(stages, target)]
        package = _distribution(_targets()[target])
        syncs = [c.value[0] for c in build.of("RUN") if c.value[0].startswith("uv sync")]
        assert syncs, build.name
        for line in syncs:
            assert f"--package {package} " in f"{line} "
            assert "--frozen" in line and "--no-editable" in line and "--no-dev" in line


# -- replaying the build ----------------------------------------------------------


def _ignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (is_exception, regex), in order (Docker: last match wins)."""
    patterns = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(glob):
            if glob.startswith("**", i):
                regex += ".*"
                i += 2
            elif glob[i] == "*":
                regex += "[^/]*"
                i += 1
            elif glob[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(glob[i])
                i += 1
        patterns.append((exception, re.compile(regex + "$")))
    return patterns


def _included(rel: PurePosixPath, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    # A pattern matches a path or any of its parent directories.
    candidates = [str(rel), *(str(p) for p in rel.parents if str(p) != ".")]
    included = True
    for exception, regex in patterns:
        if any(regex.match(c) for c in candidates):
            included = exception
    return included


def _build_context(dest: Path) -> list[str]:
    """Copy the files .dockerignore lets through (tracked or not, as docker would)."""
    patterns = _ignore_patterns()
    copied = []
    for dirpath, dirnames, filenames in os.walk(k8s.ROOT):
        if Path(dirpath) == k8s.ROOT:  # local state, never sent (and huge)
            dirnames[:] = [d for d in dirnames if d not in {".git", ".venv", ".dev"}]
        for filename in filenames:
            path = Path(dirpath) / filename
            rel = PurePosixPath(path.relative_to(k8s.ROOT).as_posix())
            if _included(rel, patterns):
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest / rel)
                copied.append(str(rel))
    return sorted(copied)


def _uv() -> str:
    for candidate in (
        os.environ.get("UV"),
        k8s.ROOT / ".dev" / "uv" / "bin" / "uv",
        shutil.which("uv"),
    ):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.fail("uv is not installed: run `make install` (it bootstraps .dev/uv)")


def _mounts(flags: tuple[str, ...]) -> list[tuple[str, str]]:
    binds = []
    for flag in flags:
        if flag.startswith("--mount=") and "type=bind" in flag:
            opts = dict(kv.split("=", 1) for kv in flag.removeprefix("--mount=").split(","))
            binds.append((opts["source"], opts["target"]))
    return binds


def _replay(target: str, work: Path) -> Path:
    """Run the uv steps that build ``target``'s /app/.venv; returns that venv."""
    stages = _stages()
    context, src, venv = work / "context", work / "src", work / "app" / ".venv"
    _build_context(context)
    src.mkdir(parents=True)
    env = {**os.environ, "UV_PYTHON": sys._base_executable}  # type: ignore[attr-defined]
    env.pop("VIRTUAL_ENV", None)
    for stage in _chain(stages, _venv_stage(stages, target)):
        for c in stage.commands:
            if c.cmd == "ENV":
                pairs = dict(zip(c.value[::2], c.value[1::2], strict=True))
                env.update({k: v.replace("/app/.venv", str(venv)) for k, v in pairs.items()})
            elif c.cmd == "WORKDIR":
                assert c.value == ("/src",)
            elif c.cmd == "COPY":
                assert c.value == (".", "/src"), c.original
                shutil.copytree(context, src, dirs_exist_ok=True)
            elif c.cmd == "RUN" and c.value[0].startswith("pip install"):
                assert "uv==" in c.value[0]  # the test brings its own uv (same version: see above)
            elif c.cmd == "RUN" and c.value[0].startswith("uv "):
                binds = _mounts(c.flags)
                for source, dest in binds:
                    shutil.copy2(context / source, src / dest)
                argv = [_uv(), *c.value[0].split()[1:]]
                out = subprocess.run(argv, cwd=src, env=env, capture_output=True, text=True,
                                     timeout=300, check=False)  # fmt: skip
                assert out.returncode == 0, f"{c.original}\n{out.stderr}"
                for _source, dest in binds:
                    if not (context / dest).exists():
                        (src / dest).unlink()
            elif c.cmd not in {"ARG", "LABEL"}:
                raise AssertionError(f"the replay does not know {c.cmd}: {c.original}")
    return venv


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(_targets()))
def test_replayed_build_runs_the_service(target: str, tmp_path: Path) -> None:
    venv = _replay(target, tmp_path)
    script = _targets()[target]
    out = subprocess.run([str(venv / "bin" / script), "--help"], capture_output=True, text=True,
                         timeout=60, check=False, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "serve" in out.stdout
    # `migrate` exactly where the chart runs a migration (realtime has no schema).
    (component,) = [c for c in VALUES["components"].values() if c["command"] == [script]]
    assert ("migrate" in out.stdout) == component.get("migrate", True)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert _distribution(script).replace("-", "_") in installed
    assert not {"pytest", "ruff", "mypy", "hypothesis"} & installed, "dev dependencies leaked"
    # Non-editable: the code lives in the venv, nothing points back to /src.
    assert not list(site.glob("*.pth")) or all(
        str(tmp_path / "src") not in p.read_text() for p in site.glob("*.pth")
    )


def test_build_context_holds_sources_only(tmp_path: Path) -> None:
    copied = _build_context(tmp_path)
    assert "uv.lock" in copied and "pyproject.toml" in copied
    assert any(p.startswith("services/queue-core/src/") for p in copied)
    leaked = [p for p in copied if "/tests/" in p or p.startswith(("deploy/", "docs/", "tests/"))]
    assert leaked == []
    assert not any(p.endswith(".pyc") for p in copied)
