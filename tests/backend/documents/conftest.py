"""An app whose documents live under pytest's tmp_path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from backend.app import create_app
from backend.documents.storage import DocumentStorage
from backend.state import Resources


@pytest.fixture
def documents_dir(tmp_path: Path) -> Path:
    return tmp_path / "documents"


@pytest.fixture
def app(resources: Resources, documents_dir: Path):
    settings = resources.settings.model_copy(update={"documents_dir": documents_dir})
    return create_app(
        settings, resources=dataclasses.replace(resources, settings=settings), roles=[]
    )


@pytest.fixture
def storage(documents_dir: Path) -> DocumentStorage:
    return DocumentStorage(documents_dir)
