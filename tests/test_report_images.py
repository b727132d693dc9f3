"""The README's pictures (docs/images, `make images`) still show this repository: the data each one shows
is recorded as a digest beside it and recomputed here (pixels vary with fonts; the data does not)."""

from __future__ import annotations

import json
import struct

import pytest

from helpers import REPO_ROOT, crd_schema_dir
from mlplatform.catalog import load_catalog
from mlplatform.config import load_config
from mlplatform.pictures import images
from mlplatform.pictures.collect import collect
from mlplatform.pictures.page import report_data

IMAGES_DIR = REPO_ROOT / "docs" / "images"


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads((IMAGES_DIR / "images.json").read_text())


def test_images_are_not_stale(recorded: dict) -> None:
    config = load_config(REPO_ROOT, schema_locations=[str(crd_schema_dir())])
    data = report_data(collect(config, plans=True), load_catalog())
    now = images.digests(data)
    stale = [name for name, digest in now.items() if recorded.get(name, {}).get("data_sha256") != digest]
    assert not stale, f"docs/images/{', '.join(stale)} no longer show this repository: run `make images`"


def test_images_exist_and_the_readme_shows_them(recorded: dict) -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert set(recorded) == set(images.IMAGES)
    for name in images.IMAGES:
        head = (IMAGES_DIR / name).read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n", name
        width, height = struct.unpack(">II", head[16:24])
        assert width >= 800 and height >= 400, (name, width, height)
        assert f"docs/images/{name}" in readme, f"README.md does not show {name}"
