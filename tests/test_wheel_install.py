"""The package as a user installs it: the built wheel, alone in a fresh virtualenv, with one
user extra at a time, each path started and asked for a stream.

The suite's own venv holds every extra and the test tools (pytest brings ``packaging``, which
gunicorn's gevent worker imports), so it cannot see a dependency an extra forgets: these
venvs can. The wheel is built once per session (``python -m build``, as for a release) and
installed into one venv per extra, all at once; pip's cache makes that a matter of seconds
after the first run. Everything runs from a folder outside the checkout, without
``PYTHONPATH``: only the installed wheel can answer.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import requests

from tests.support.servers import ROOT, Server, free_port, wait_for_port

# In the normal suite, with room for the first build and installs (pip's cache cold): the
# session fixtures' time counts against the first test that uses them.
pytestmark = pytest.mark.timeout(600)

#: The venvs: "" is the wheel alone; each other holds one user extra.
EXTRAS = ("", "gunicorn", "flask", "django", "jwt", "metrics")
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build``: the sdist and the wheel, once."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


@pytest.fixture(scope="session")
def wheel(dist: Path) -> Path:
    (found,) = dist.glob("kafkasse_wsgi-*.whl")
    return found


@pytest.fixture(scope="session")
def venvs(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One fresh venv per extra (no pip of their own: this pip installs into them), made
    and filled in parallel. Returns extra → the venv's ``bin`` folder."""
    root = tmp_path_factory.mktemp("venvs")
    bins = {extra: root / (extra or "alone") / "bin" for extra in EXTRAS}
    makers = [
        subprocess.Popen([sys.executable, "-m", "venv", "--without-pip", str(path.parent)])
        for path in bins.values()
    ]
    assert all(maker.wait(120) == 0 for maker in makers)
    installs = {
        extra: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(path / "python"),
                "install",
                "--quiet",
                "--no-compile",  # the imports used compile on the way; Django has thousands
                f"{wheel}[{extra}]" if extra else str(wheel),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Away from the checkout: its kafkasse_wsgi.egg-info would pass for installed.
            cwd=root,
            env=user_env(),
        )
        for extra, path in bins.items()
    }
    for extra, install in installs.items():
        output, _ = install.communicate(timeout=600)
        assert install.returncode == 0, f"[{extra}]: {output}"
    return bins


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working folder outside the checkout (the repository must not be importable)."""
    return tmp_path


#: The test broker's address, for the servers started from the wheel (set by ``_broker``).
BROKER: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _broker(kafka_bootstrap: str) -> None:
    """The serve command and the examples read their broker from these variables: without
    them they would ask ``localhost:9092``, which need not be the test broker."""
    BROKER.update(
        KAFKASSE_BOOTSTRAP_SERVERS=kafka_bootstrap, KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap
    )


def user_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, **BROKER, **extra}


def start(args: list[str], cwd: Path, port: int, env: dict[str, str] | None = None) -> Server:
    log = open(cwd / f"server-{port}.log", "w")  # noqa: SIM115 (closed by Server.stop)
    process = subprocess.Popen(
        args, cwd=cwd, env=env or user_env(), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port, process, timeout_s=60)
    except Exception:
        process.kill()
        log.close()
        raise AssertionError((cwd / f"server-{port}.log").read_text()) from None
    return Server(process, port, log)


def assert_streams(url: str, **kwargs: object) -> None:
    """The stream's headers and its first bytes (``:ok``)."""
    with requests.get(url, stream=True, timeout=20, **kwargs) as response:  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"].startswith("text/event-stream")
        first = next(response.iter_content(chunk_size=None))
    assert first.startswith(b":ok"), first


def serve(bin_dir: Path, cwd: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    command = [str(bin_dir / "kafkasse-wsgi"), "serve", "--port", str(port), *args]
    return start(command, cwd, port, env)


def test_sdist_and_wheel_pass_twine_check_strict(dist):
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert len(list(dist.iterdir())) == 2


def test_the_wheel_holds_the_package_and_no_tests_or_bench_files(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "kafkasse_wsgi/_serve/static/index.html" in names and "kafkasse_wsgi/py.typed" in names
    top = {name.split("/")[0] for name in names}
    assert top == {"kafkasse_wsgi", wheel.name.split("-py3")[0] + ".dist-info"}, top
    assert not [n for n in names if "test" in n.lower() or "bench" in n.lower()]


def test_the_wheel_alone_runs_serve_help_and_serves_the_demo_page(venvs, outside, make_topic):
    bin_dir = venvs[""]
    shown = subprocess.run(
        [str(bin_dir / "kafkasse-wsgi"), "serve", "--help"],
        cwd=outside,
        env=user_env(),
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0 and "--allowed-topics" in shown.stdout, shown.stderr
    topic = make_topic()
    server = serve(bin_dir, outside)
    try:
        page = requests.get(f"{server.url}/", timeout=10)
        assert page.status_code == 200 and "EventSource" in page.text
        assert_streams(f"{server.url}/{topic}")
    finally:
        server.stop()
    # Without the extra, the feature that needs it names the extra to install.
    refused = subprocess.run(
        [str(bin_dir / "kafkasse-wsgi"), "serve", "--workers", "2"],
        cwd=outside,
        env=user_env(),
        capture_output=True,
        text=True,
    )
    assert refused.returncode == 2
    assert "pip install 'kafkasse_wsgi[gunicorn]'" in refused.stderr, refused.stderr


def test_gunicorn_extra_serves_with_two_workers(venvs, outside, make_topic):
    """Regression: gunicorn 27's gevent worker imports ``packaging``, which the extra did not
    bring: "class uri 'gevent' invalid or not found" on every gunicorn path."""
    topic = make_topic()
    server = serve(venvs["gunicorn"], outside, "--workers", "2")
    try:
        assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
        assert_streams(f"{server.url}/{topic}")
    finally:
        server.stop()
    # The example configuration, with the plain example app.
    port = free_port()
    example = start(
        [
            str(venvs["gunicorn"] / "gunicorn"),
            "-c",
            str(EXAMPLES / "gunicorn.conf.py"),
            "--chdir",
            str(EXAMPLES),
            "01_plain_wsgi:app",
        ],
        outside,
        port,
        user_env(PORT=str(port)),
    )
    try:
        assert_streams(f"{example.url}/{topic}")
    finally:
        example.stop()


def test_flask_extra_runs_the_flask_example(venvs, outside, make_topic):
    topic = make_topic()
    port = free_port()
    server = start(
        [str(venvs["flask"] / "python"), str(EXAMPLES / "02_flask.py")],
        outside,
        port,
        user_env(PORT=str(port)),
    )
    try:
        assert_streams(f"{server.url}/edits/{topic}")
    finally:
        server.stop()


DJANGO_UNDER_GEVENT = textwrap.dedent(
    """
    from gevent import monkey; monkey.patch_all()
    import os, sys
    sys.path.insert(0, sys.argv[1])
    from gevent.pywsgi import WSGIServer
    from wsgi import application
    WSGIServer(("127.0.0.1", int(os.environ["PORT"])), application).serve_forever()
    """
)


def test_django_extra_runs_the_django_project(venvs, outside, make_topic):
    topic = make_topic()
    port = free_port()
    server = start(
        [
            str(venvs["django"] / "python"),
            "-c",
            DJANGO_UNDER_GEVENT,
            str(EXAMPLES / "django_project"),
        ],
        outside,
        port,
        user_env(PORT=str(port)),
    )
    try:
        assert_streams(f"{server.url}/stream/{topic}")
        assert_streams(f"{server.url}/fn/{topic}")
    finally:
        server.stop()


def test_jwt_extra_serves_streams_to_token_holders_only(venvs, outside, make_topic):
    topic = make_topic()
    secret = "a-secret-of-at-least-32-bytes-for-hs256"  # an inline secret's shape
    minted = subprocess.run(
        [
            str(venvs["jwt"] / "python"),
            "-c",
            "import sys; from kafkasse_wsgi.tokens import mint_token; "
            "print(mint_token(sys.argv[1], [sys.argv[2]], expires_in_s=300))",
            secret,
            topic,
        ],
        cwd=outside,
        env=user_env(),
        capture_output=True,
        text=True,
    )
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    server = serve(venvs["jwt"], outside, env=user_env(KAFKASSE_JWT_KEYS=secret))
    try:
        assert requests.get(f"{server.url}/{topic}", timeout=10).status_code == 401
        assert_streams(f"{server.url}/{topic}", headers={"Authorization": f"Bearer {token}"})
    finally:
        server.stop()


def test_metrics_extra_serves_prometheus_metrics(venvs, outside, make_topic):
    topic = make_topic()
    server = serve(venvs["metrics"], outside)
    try:
        assert_streams(f"{server.url}/{topic}")
        deadline = time.monotonic() + 10
        while True:
            metrics = requests.get(f"{server.url}/metrics", timeout=10)
            assert metrics.status_code == 200, metrics.text
            if "kafkasse_streams_started_total" in metrics.text or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert "kafkasse_" in metrics.text
    finally:
        server.stop()


def test_client_extra_brings_what_the_example_client_imports(wheel):
    """``examples/client.py`` needs requests and requests-sse, which only the ``test`` extra
    brought: the ``client`` extra is the user's way to get them (read off the wheel's
    metadata: a venv of their own would only prove that pip reads it)."""
    from email.parser import Parser

    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode())
    client = {
        re.split(r"[<>=;\s\[]", requirement)[0].lower()
        for requirement in metadata.get_all("Requires-Dist") or []
        if 'extra == "client"' in requirement
    }
    assert {"requests", "requests-sse"} <= client, client
    source = (EXAMPLES / "client.py").read_text()
    assert "import requests\n" in source and "from requests_sse import" in source
