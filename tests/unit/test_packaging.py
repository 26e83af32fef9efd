"""setup.cfg: what setuptools warns about when building (checked without a build).

Verified by hand with ``pip wheel . -w /tmp/w --no-deps``: no warning. Setuptools warns
about a ``License ::`` classifier (deprecated with ``license =``) and about a directory of
package data that is not listed in ``packages``.
"""

from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def test_no_license_classifier() -> None:
    classifiers = setup_cfg()["metadata"]["classifiers"]
    assert "License ::" not in classifiers
    assert setup_cfg()["metadata"]["license"] == "Apache-2.0"


def test_every_directory_of_the_package_is_listed_in_packages() -> None:
    listed = set(setup_cfg()["options"]["packages"].split())
    package = ROOT / "kafkasse_wsgi"
    directories = {
        ".".join(path.relative_to(ROOT).parts)
        for path in [package, *package.rglob("*")]
        if path.is_dir() and path.name != "__pycache__" and any(path.iterdir())
    }
    assert directories == listed
