"""``examples/05_tokens_flask.py`` for a user who signs in as the defaults suggest: every user
gets a page that opens a stream (the default bob, granted ``bob-*`` only, got a page that
opened ``/stream/`` and a 400), and the topics the users need exist once it started."""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import sys

import requests

from tests.support.kafka import unique_topic
from tests.support.servers import ROOT, free_port, wait_for_port

EXAMPLE = ROOT / "examples" / "05_tokens_flask.py"
SECRET = "example-test-secret-0123456789abcdef-0123456789abcdef"


def page_config(page: str) -> dict:
    match = re.search(r"const config = (\{.*?\});", page)
    assert match, page
    return json.loads(match.group(1))


def test_every_default_user_gets_a_page_that_names_its_topics(monkeypatch):
    monkeypatch.delenv("EXAMPLE_USERS", raising=False)
    module = runpy.run_path(str(EXAMPLE))
    client = module["app"].test_client()
    for user in module["USERS"]:
        client.post("/login", data={"user": user})
        config = page_config(client.get("/").get_data(as_text=True))
        assert config["topics"], (user, config)
        assert not set("*?") & set(config["topics"]), config


def test_a_user_granted_a_glob_streams_from_the_page_and_its_topics_exist(kafka, kafka_bootstrap):
    base = unique_topic("tokens-example")
    users = {"alice": [f"{base}-alice"], "bob": [f"{base}-bob-orders", f"{base}-bob-*"]}
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "EXAMPLE_JWT_SECRET": SECRET,
        "EXAMPLE_USERS": json.dumps(users),
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLE)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, process)
        url = f"http://127.0.0.1:{port}"
        for user in users:
            with requests.Session() as session:
                session.post(f"{url}/login", data={"user": user}, timeout=10)
                topics = page_config(session.get(f"{url}/", timeout=10).text)["topics"]
                with session.get(f"{url}/stream/{topics}", stream=True, timeout=15) as stream:
                    assert stream.status_code == 200, (user, topics, stream.text)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
        kafka.delete_topics([f"{base}-alice", f"{base}-bob-orders"])
    assert f"{base}-bob-orders" in output  # it says which topics each user streams
