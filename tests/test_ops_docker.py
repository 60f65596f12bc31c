"""Deployment files: the Docker image (run without Docker, as the Dockerfile says) and the systemd unit.

No Docker engine runs here, so the entry-command test installs the package from the same files the
build stage copies into a fresh virtualenv, lays out /data as the runtime stage does, and runs the
image's ENTRYPOINT + CMD with the image's ENV, WORKDIR and HEALTHCHECK. Everything is read from the
Dockerfile itself, so the image and this test cannot drift apart. (hadolint lints the file in CI.)
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from tests.helpers import REPO

DOCKERFILE = REPO / "Dockerfile"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"the runtime stage has no {keyword}"
        return found[-1]


def parse_dockerfile(path: Path = DOCKERFILE) -> list[Stage]:
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m[1], ""), parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        else:
            assert stages, f"{keyword} before FROM"
            stages[-1].instructions.append((keyword, rest))
    return stages


def env_pairs(args: str) -> dict[str, str]:
    pairs = {}
    for item in shlex.split(args):
        key, sep, value = item.partition("=")
        assert sep, f"ENV {item!r}: write ENV KEY=VALUE"
        pairs[key] = value
    return pairs


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not exec form: {args}"
    return value


def copy_args(args: str) -> tuple[list[str], list[str], str]:
    """(flags, sources, destination) of a COPY instruction."""
    words = args.split()
    flags = [w for w in words if w.startswith("--")]
    rest = [w for w in words if not w.startswith("--")]
    return flags, rest[:-1], rest[-1]


def test_dockerfile_is_multi_stage_non_root_and_keeps_data_in_a_volume() -> None:
    stages = parse_dockerfile()
    build, runtime = stages[0], stages[-1]
    assert len(stages) >= 2 and build.name
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", runtime.base), runtime.base
    assert build.base == runtime.base  # the venv is copied across, so both need the same Python
    assert any(f"--from={build.name}" in c for c in runtime.all("COPY"))
    user = runtime.last("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "run as a numeric non-root user (Kubernetes can verify it)"
    assert exec_form(runtime.last("VOLUME")) == ["/data"]
    assert runtime.last("WORKDIR") == "/data"
    healthcheck = runtime.last("HEALTHCHECK")
    assert "CMD [" in healthcheck and "--start-period" in healthcheck
    assert exec_form(runtime.last("ENTRYPOINT")) + exec_form(runtime.last("CMD")) == ["paperboy", "run"]
    declared = " ".join(runtime.all("ENV") + runtime.all("ARG") + build.all("ENV") + build.all("ARG"))
    assert "DISCORD_TOKEN" not in declared, "secrets come from `docker run -e`, never from the image"


def test_dockerignore_lets_every_copied_path_through() -> None:
    patterns = [
        line.strip() for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        result = False
        for pattern in patterns:  # the last matching line wins, as in Docker
            negate = pattern.startswith("!")
            pattern = pattern.lstrip("!").rstrip("/")
            if fnmatch(path, pattern) or fnmatch(path, pattern + "/*") or path.startswith(pattern + "/"):
                result = not negate
        return result

    sources = []
    for stage in parse_dockerfile():
        for args in stage.all("COPY"):
            flags, srcs, _ = copy_args(args)
            if not any(f.startswith("--from") for f in flags):
                sources += [s.rstrip("/") for s in srcs]
    assert sources
    for src in sources:
        assert (REPO / src).exists(), f"COPY {src}: not in the repository"
        assert not ignored(src), f".dockerignore hides {src}, which the Dockerfile copies"
        for file in (REPO / src).rglob("*.py") if (REPO / src).is_dir() else []:
            relative = file.relative_to(REPO).as_posix()
            if "__pycache__" not in relative:
                assert not ignored(relative), f".dockerignore hides {relative}"
    assert ignored(".venv/bin/python") and ignored("paperboy.db") and ignored("tests/test_ops_docker.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthz_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def test_the_image_command_serves_healthz_and_stops_on_sigterm(tmp_path: Path) -> None:
    """Installs the package into a fresh virtualenv (about 15 s from pip's local cache)."""
    stages = parse_dockerfile()
    build, runtime = stages[0], stages[-1]
    venv, data, src = tmp_path / "venv", tmp_path / "data", tmp_path / "src"
    # The image's absolute paths, relocated under tmp_path.
    where = {"/opt/paperboy": str(venv), "/data": str(data), build.last("WORKDIR"): str(src)}

    def relocate(value: str) -> str:
        for image_path, here in sorted(where.items(), key=lambda kv: -len(kv[0])):
            value = re.sub(rf"(?<![\w/]){re.escape(image_path)}(?=/|$|:)", here, value)
        return value

    # Build stage: copy what it copies, install what it installs.
    src.mkdir()
    for args in build.all("COPY"):
        _, sources, dest = copy_args(args)
        target = Path(relocate(dest)) if dest.startswith("/") else src / dest
        for item in sources:
            origin = REPO / item
            if origin.is_dir():  # Docker copies a folder's contents, not the folder
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    # Runtime stage: its files in /data, its ENV, its WORKDIR.
    data.mkdir()
    for args in runtime.all("COPY"):
        flags, sources, dest = copy_args(args)
        if any(f.startswith("--from") for f in flags):
            continue
        for item in sources:
            shutil.copy2(REPO / item, Path(relocate(dest)))
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    for args in runtime.all("ENV"):
        for key, value in env_pairs(args).items():
            env[key] = relocate(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m[1], ""), value))
    assert Path(env["PAPERBOY_CONFIG"]).is_file()
    port = free_port()
    # The only differences from the image: loopback instead of every interface, and a free port.
    env |= {"PAPERBOY_HTTP_HOST": "127.0.0.1", "PAPERBOY_HTTP_PORT": str(port)}
    cwd = relocate(runtime.last("WORKDIR"))
    command = exec_form(runtime.last("ENTRYPOINT")) + exec_form(runtime.last("CMD"))
    healthcheck = exec_form(runtime.last("HEALTHCHECK").split(" CMD ", 1)[1])
    assert shutil.which(command[0], path=env["PATH"]) == str(venv / "bin" / command[0])

    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        deadline = time.monotonic() + 30
        while healthz_status(url) != 200:
            assert proc.poll() is None, f"exited early: {proc.communicate()[0]}"
            assert time.monotonic() < deadline, "no healthy /healthz within 30 s"
            time.sleep(0.1)
        probe = subprocess.run(healthcheck, cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
        assert probe.returncode == 0, probe.stderr
        assert json.loads(probe.stdout)["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert "paperboy: stopping" in output and "Discord is off" in output
    assert (data / "paperboy.db").is_file(), "the database belongs in the /data volume"
    assert "no [[sources]]" in output


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_systemd_unit_runs_paperboy_from_its_state_folder(tmp_path: Path) -> None:
    unit = REPO / "deploy" / "paperboy.service"
    settings = unit_settings(unit)
    (exec_start,) = settings["ExecStart"]
    assert exec_start.split()[0].endswith("/bin/paperboy") and exec_start.split()[1:] == ["run"]
    assert settings["WorkingDirectory"] == [f"/var/lib/{settings['StateDirectory'][0]}"]
    config = dict(v.split("=", 1) for v in settings["Environment"])["PAPERBOY_CONFIG"]
    assert config.startswith(f"/etc/{settings['ConfigurationDirectory'][0]}/")
    assert settings["User"] == ["paperboy"] and settings["KillSignal"] == ["SIGTERM"]
    assert not any("DISCORD_TOKEN" in v for v in settings["Environment"]), "secrets belong in the EnvironmentFile"
    assert settings["EnvironmentFile"][0].lstrip("-").startswith("/etc/paperboy/")
    env_example = (REPO / "deploy" / "paperboy.env.example").read_text(encoding="utf-8")
    assert re.search(r"^DISCORD_TOKEN=$", env_example, re.M)
    # systemd's own checker, with ExecStart pointed at an executable that exists here.
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the structural checks above still ran; the checker ships with systemd
    copy = tmp_path / "paperboy.service"
    copy.write_text(unit.read_text(encoding="utf-8").replace(exec_start.split()[0], sys.executable), encoding="utf-8")
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
