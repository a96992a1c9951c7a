"""Packaging as official providers do it: the wheel's license files and metadata, and the provider info
(its schema, and README how-to links that point at real headings)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib.resources import files

import pytest
from support import ROOT

from airflow_provider_videogen.get_provider_info import DOCS, HOW_TO, get_provider_info


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def readme_anchors() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # no headings inside code blocks
    return {github_anchor(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, flags=re.M)}


def test_provider_info_follows_airflows_schema():
    import jsonschema

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_how_to_link_points_at_a_readme_heading():
    (integration,) = get_provider_info()["integrations"]
    assert integration["external-doc-url"] == f"{DOCS}#readme"
    assert integration["how-to-guide"] == [f"{DOCS}#{anchor}" for anchor in HOW_TO]
    missing = sorted(set(HOW_TO) - readme_anchors())
    assert missing == [], f"how-to anchors with no README heading: {missing}"


def test_github_anchor_matches_githubs_rules():
    assert github_anchor("Write to S3, GCS, Azure, SFTP or anywhere else") == \
        "write-to-s3-gcs-azure-sftp-or-anywhere-else"
    assert github_anchor("Example DAGs (`dags_examples/`)") == "example-dags-dags_examples"
    assert github_anchor("New videos as asset events (data-aware DAGs)") == "new-videos-as-asset-events-data-aware-dags"


@pytest.mark.timeout(300)
def test_the_wheel_ships_license_notice_and_provider_metadata(tmp_path):
    pytest.importorskip("setuptools", minversion="77.0.3", reason="PEP 639 license metadata needs setuptools 77")
    source = tmp_path / "src"  # a copy: the build writes build/ and *.egg-info beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE", "CHANGELOG.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "airflow_provider_videogen", source / "airflow_provider_videogen",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(source)], check=True, capture_output=True, timeout=240)
    (wheel,) = (tmp_path / "dist").glob("airflow_provider_videogen-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        assert f"{dist_info}/licenses/LICENSE" in names and f"{dist_info}/licenses/NOTICE" in names
        assert archive.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        assert "Apache License" in archive.read(f"{dist_info}/licenses/LICENSE").decode()[:200]
        metadata = Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    assert metadata["License-Expression"] == "Apache-2.0"
    assert sorted(metadata.get_all("License-File")) == ["LICENSE", "NOTICE"]
    classifiers = metadata.get_all("Classifier")
    assert "Framework :: Apache Airflow :: Provider" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]  # PEP 639: the expression replaces them
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL"))
    assert set(urls) >= {"Documentation", "Source", "Changelog", "Issues"}
    assert set(metadata.get_all("Provides-Extra")) >= {"s3", "gcs", "azure", "sftp"}
    assert "apache_airflow_provider" in entry_points
