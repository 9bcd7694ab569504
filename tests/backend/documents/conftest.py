"""An app whose documents live under pytest's tmp_path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from backend.app import create_app
from backend.config import Settings
from backend.documents.storage import DocumentStorage
from backend.state import Resources


@pytest.fixture
def documents_dir(tmp_path: Path) -> Path:
    return tmp_path / "documents"


@pytest.fixture
def doc_settings(resources: Resources, documents_dir: Path) -> Settings:
    """The test settings with documents stored under tmp_path."""
    return resources.settings.model_copy(update={"documents_dir": documents_dir})


@pytest.fixture
def doc_resources(resources: Resources, doc_settings: Settings) -> Resources:
    return dataclasses.replace(resources, settings=doc_settings)


@pytest.fixture
def app(doc_resources: Resources):
    return create_app(doc_resources.settings, resources=doc_resources, roles=[])


@pytest.fixture
def storage(documents_dir: Path) -> DocumentStorage:
    return DocumentStorage(documents_dir)
