"""The connector's Docker image, run as the platform runs a connector: a read-only root file
system with a tmpfs /tmp, no capabilities, no new privileges, the config files under /config,
and `--network host` here so that the emulator on 127.0.0.1 is in reach.

Selected only with `-m image` (pyproject's addopts deselect the marker) and run by
`scripts/test_image.sh`, which builds the image and names it in MOOR7_IMAGE. Selected
without MOOR7_IMAGE, or with an image the engine does not have, every test fails: the
image test never passes by not running."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from moor7_emulator import Emulator, ground_truth

from .conftest import ROOT, Cli, assert_no_secret, configured_catalog, emulator_config
from .reliability_checks import STREAMS
from .test_end_to_end import assert_records_equal_ground_truth

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def image() -> str:
    name = os.environ.get("MOOR7_IMAGE", "").strip()
    if not name:
        pytest.fail(
            "MOOR7_IMAGE is not set: build the image with `bash scripts/build_image.sh` and pass its last line, "
            "or run `bash scripts/test_image.sh`"
        )
    inspected = subprocess.run(["docker", "image", "inspect", name], capture_output=True, text=True)
    if inspected.returncode != 0:
        pytest.fail(f"the Docker engine has no image {name!r}: {inspected.stderr.strip()}")
    return name


# How the platform's workers start a connector's container (and what Airbyte's own image tests
# check): nothing but /tmp is writable, and the process can gain no privilege.
PLATFORM_FLAGS = ["--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]


@pytest.fixture
def docker_cli(image: str, tmp_path: Path) -> Cli:
    """The Cli of the end-to-end suite with `docker run` as its command. Its files go in a
    directory mounted read-only at /config, where the platform puts a connector's config,
    catalog and state; the directory is opened up for the image's non-root user."""
    workdir = tmp_path / "mounted"
    workdir.mkdir()
    workdir.chmod(0o755)
    command: list[str] = ["docker", "run", "--rm", "--network", "host", *PLATFORM_FLAGS, "-v", f"{workdir}:/config:ro", image]
    return MountedCli(command, workdir)


class MountedCli(Cli):
    def arguments(self, *args, **kwargs) -> list[str]:
        command = super().arguments(*args, **kwargs)
        for path in self.workdir.iterdir():
            path.chmod(0o644)  # uid 1000 in the container reads them, whatever the host's umask
        # The files' paths as the container sees them: those after --config, --catalog, --state.
        return [
            f"/config/{Path(arg).name}" if before in ("--config", "--catalog", "--state") else arg
            for before, arg in zip(["", *command], command)
        ]


def _in_the_image(image: str, script: str, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "run", "--rm", *flags, "--entrypoint", "/bin/sh", image, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_image_has_the_layout_of_airbytes_python_connector_base(image: str) -> None:
    script = " ; ".join(
        [
            "date +%Z",
            "readlink -f /etc/localtime",
            "stat -c '%n %u:%g' /config /secrets /custom_cache /airbyte /tmp",
            "python -c 'import sys; print(sys.implementation.name, *sys.version_info[:2])'",
            "python -m pip --version",
            "command -v python",
            "command -v pip",
            "id",
        ]
    )
    result = _in_the_image(image, script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "UTC", lines
    assert lines[1] == "/usr/share/zoneinfo/Etc/UTC", lines
    owners = dict(line.split() for line in lines[2:7])
    assert owners == dict.fromkeys(("/config", "/secrets", "/custom_cache", "/airbyte", "/tmp"), "1000:1000"), owners
    assert lines[7] == "cpython 3 11", lines[7]
    pip_version = re.match(r"pip (\d+)\.(\d+)", lines[8])
    assert pip_version, lines[8]
    assert int(pip_version.group(1)) >= 24, lines[8]
    assert lines[9:11] == ["/usr/local/bin/python", "/usr/local/bin/pip"], lines
    assert lines[11].startswith("uid=1000(airbyte) gid=1000(airbyte)"), lines[11]


@pytest.mark.parametrize("flags", [[], PLATFORM_FLAGS], ids=["as-built", "read-only-with-tmpfs"])
def test_tmp_is_writable_and_the_rest_is_not_under_the_platforms_flags(image: str, flags: list[str]) -> None:
    result = _in_the_image(
        image, "touch /tmp/probe && echo tmp-ok; touch /airbyte/probe 2>/dev/null && echo airbyte-ok; true", *flags
    )
    assert result.returncode == 0, result.stderr
    assert "tmp-ok" in result.stdout
    # /airbyte belongs to the user, as in Airbyte's base; only a read-only root makes it read-only.
    assert ("airbyte-ok" in result.stdout) is (not flags), result.stdout


def _docker_run_id(image: str, *flags: str) -> str:
    return subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "id", image, *flags], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_image_runs_as_the_non_root_airbyte_user_with_airbytes_entrypoint(image: str) -> None:
    assert _docker_run_id(image, "-u") == "1000"
    assert _docker_run_id(image, "-un") == "airbyte"
    (config,) = json.loads(
        subprocess.run(["docker", "image", "inspect", image], capture_output=True, text=True, check=True).stdout
    )
    assert config["Config"]["Entrypoint"] == ["/entrypoint.sh"]
    assert "AIRBYTE_ENTRYPOINT=/entrypoint.sh" in config["Config"]["Env"]
    assert config["Config"]["WorkingDir"] == "/airbyte/integration_code"


def test_spec_from_the_image(docker_cli: Cli) -> None:
    result = docker_cli.run("spec")
    assert result.exit_code == 0, result.stderr
    (spec,) = result.of_type("SPEC")
    properties = spec["spec"]["connectionSpecification"]["properties"]
    assert {"app_key", "secret_key", "start_date", "base_url"} <= set(properties)
    assert properties["secret_key"]["airbyte_secret"] is True


def test_check_from_the_image_reaches_the_emulator_on_the_hosts_loopback(docker_cli: Cli, emulator: Emulator) -> None:
    result = docker_cli.run("check", emulator_config(emulator))
    assert [m["connectionStatus"]["status"] for m in result.of_type("CONNECTION_STATUS")] == ["SUCCEEDED"], result.stdout[-2000:]
    assert sorted((r.stream, r.outcome) for r in emulator.log) == sorted((stream, "ok") for stream in STREAMS), (
        "one request per report: check reads each report's header day"
    )


def test_a_read_and_an_incremental_read_from_the_image_return_exactly_the_apis_rows(docker_cli: Cli, emulator: Emulator) -> None:
    config = emulator_config(emulator, start_date="2024-06-01", end_date="2024-07-31", lookback_days=2)
    discovered = docker_cli.run("discover", config)
    assert discovered.exit_code == 0, discovered.stderr
    (catalog_message,) = discovered.of_type("CATALOG")
    catalog = configured_catalog(catalog_message["catalog"])
    schemas = {s["stream"]["name"]: s["stream"]["json_schema"] for s in catalog["streams"]}

    emulator.clear_log()
    first = docker_cli.run("read", config, catalog)
    assert first.exit_code == 0, first.errors() or first.stderr[-2000:]
    assert not first.errors(), first.errors() or first.stderr[-2000:]
    truth = ground_truth(emulator.account, "2024-06-01", "2024-07-31", "day")
    compared = assert_records_equal_ground_truth(first, truth, schemas)
    assert compared == sum(len(rows) for rows in truth.values()) > 0
    assert len(emulator.requests_for("agent_workload")) == 61  # one per day, June and July

    # The state file is the last STATE message of each stream, as Airbyte would pass it.
    states = first.final_states()
    assert {s["stream"]["stream_descriptor"]["name"]: s["stream"]["stream_state"] for s in states} == {
        stream: {"period_start": "2024-07-31T00:00:00+0800"} for stream in STREAMS
    }
    emulator.clear_log()
    second = docker_cli.run("read", config, catalog, state=states)
    assert second.exit_code == 0, second.errors() or second.stderr[-2000:]
    assert not second.errors(), second.errors() or second.stderr[-2000:]
    assert sorted(r.window for r in emulator.requests_for("agent_workload")) == [
        ("2024-07-29 00:00:00", "2024-07-29 23:59:59"),
        ("2024-07-30 00:00:00", "2024-07-30 23:59:59"),
        ("2024-07-31 00:00:00", "2024-07-31 23:59:59"),
    ]
    tail = ground_truth(emulator.account, "2024-07-29", "2024-07-31", "day")
    assert assert_records_equal_ground_truth(second, tail, schemas) == sum(len(rows) for rows in tail.values()) > 0


def _wall_clock(value) -> dt.datetime:
    """PyAirbyte 0.71's DuckDB cache keeps `period_start` as a naive TIMESTAMP of the local
    wall-clock time (the offset dropped), so that is what is compared."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=None)


def test_pyairbyte_syncs_from_the_image_into_duckdb_over_host_networking(
    image: str, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No connector registry and no telemetry: both would reach beyond 127.0.0.1. Read by
    # PyAirbyte at import, so set before it.
    monkeypatch.setenv("AIRBYTE_OFFLINE_MODE", "1")
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    logs = tmp_path / "logs"
    monkeypatch.setenv("AIRBYTE_LOGGING_ROOT", str(logs))  # searched for the secret below
    import airbyte as ab  # the `quickstart` extra; scripts/test_image.sh installs it
    from airbyte.caches import DuckDBCache

    # PyAirbyte mounts <cwd>/.airbyte/<name> at /local and the temp dir at /airbyte/tmp.
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".airbyte").mkdir()
    config = emulator_config(emulator, start_date="2024-07-01", end_date="2024-07-31")
    source = ab.get_source("source-moor7-im", docker_image=image, use_host_network=True, config=config)
    source.check()
    source.select_all_streams()
    cache = DuckDBCache(db_path=str(tmp_path / "image_reports.duckdb"), schema_name="moor7")
    source.read(cache=cache)

    truth = ground_truth(emulator.account, "2024-07-01", "2024-07-31", "day")
    with cache.get_sql_engine().connect() as connection:
        for stream in STREAMS:
            key = "dimension" if stream == "session_time" else "agentid"  # PyAirbyte lower-cases column names
            rows = connection.exec_driver_sql(f"select {key}, period_start from moor7.{stream}").fetchall()
            loaded = [(k, _wall_clock(p)) for k, p in rows]
            expected = {(k, _wall_clock(p)) for k, p in truth[stream]}
            assert len(loaded) == len(set(loaded)), f"{stream}: duplicate keys in DuckDB"
            assert set(loaded) == expected, f"{stream}: DuckDB holds {len(loaded)} rows, the API {len(expected)}"
    connector_logs = [path for path in logs.rglob("*") if path.is_file()]
    assert connector_logs, "PyAirbyte wrote no logs where AIRBYTE_LOGGING_ROOT points"
    assert_no_secret(config, "".join(path.read_text(errors="replace") for path in connector_logs))


# --- acceptance-test-config.yml, from the image ------------------------------------------------

ACCEPTANCE = yaml.safe_load((ROOT / "acceptance-test-config.yml").read_text(encoding="utf-8"))["acceptance_tests"]


def _acceptance_scenarios():
    for section, body in ACCEPTANCE.items():
        for number, scenario in enumerate(body["tests"]):
            yield pytest.param(section, scenario, id=f"{section}-{number}")


def _file(relative: str):
    return json.loads((ROOT / relative).read_text(encoding="utf-8"))


def _records(result) -> list[str]:
    return sorted(
        json.dumps(
            {"stream": m["record"]["stream"], "data": m["record"]["data"], "emitted_at": 1700000000000},
            ensure_ascii=False,
            sort_keys=True,
        )
        for m in result.of_type("RECORD")
    )


@pytest.mark.parametrize(("section", "scenario"), list(_acceptance_scenarios()))
def test_acceptance_scenario_from_the_image(section: str, scenario: dict, docker_cli: Cli, emulator: Emulator) -> None:
    """Each scenario of acceptance-test-config.yml, run from the image under the platform's
    flags against the emulator. The scenario's config is used as written but for
    `base_url`, which names the emulator's port of this run (it listens on a free port)."""
    config = {**_file(scenario["config_path"]), "base_url": emulator.url} if "config_path" in scenario else None
    if section == "spec":
        (spec,) = docker_cli.run("spec").of_type("SPEC")
        manifest = yaml.safe_load((ROOT / scenario["spec_path"]).read_text(encoding="utf-8"))
        assert spec["spec"]["connectionSpecification"] == manifest["spec"]["connection_specification"]
    elif section == "connection":
        result = docker_cli.run("check", config)
        expected = {"succeed": "SUCCEEDED", "failed": "FAILED"}[scenario["status"]]
        assert [m["connectionStatus"]["status"] for m in result.of_type("CONNECTION_STATUS")] == [expected], result.stdout[-2000:]
    elif section == "discovery":
        result = docker_cli.run("discover", config)
        (catalog,) = result.of_type("CATALOG")
        streams = {s["name"]: s for s in catalog["catalog"]["streams"]}
        assert {s["stream"]["name"] for s in _file("integration_tests/configured_catalog.json")["streams"]} <= set(streams)
        for stream in streams.values():
            jsonschema.Draft7Validator.check_schema(stream["json_schema"])
    elif section == "basic_read":
        result = docker_cli.run("read", config, _file(scenario["configured_catalog_path"]))
        assert result.exit_code == 0, result.errors() or result.stderr[-2000:]
        assert not result.errors(), result.errors() or result.stderr[-2000:]
        assert (
            _records(result) == (ROOT / "integration_tests" / "expected_records.jsonl").read_text(encoding="utf-8").splitlines()
        )
    elif section == "incremental":
        catalog = _file(scenario["configured_catalog_path"])
        state = _file(scenario["future_state"]["future_state_path"])
        result = docker_cli.run("read", config, catalog, state=state)
        assert result.exit_code == 0, result.errors() or result.stderr[-2000:]
        assert not result.errors(), result.errors() or result.stderr[-2000:]
        assert result.records() == [], "a state in the future reads nothing"
        assert [r for r in emulator.log if r.stream] == [], "and needs no report request"
    elif section == "full_refresh":
        catalog = _file(scenario["configured_catalog_path"])
        first, second = docker_cli.run("read", config, catalog), docker_cli.run("read", config, catalog)
        assert first.exit_code == second.exit_code == 0
        assert not first.errors()
        assert not second.errors()
        assert _records(first) == _records(second), "two reads of the same range return the same records"
        assert _records(first), "two reads of the same range return the same records"
    else:
        pytest.fail(f"acceptance-test-config.yml has a section this test does not run: {section}")
