"""Settings: read from the environment, and refused with a message naming the variable."""

from __future__ import annotations

import pytest

from mongoshop.db.clients import client_options, require_replica_set
from mongoshop.errors import ConfigurationError
from mongoshop.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]  # no stray .env
    for name in ("MONGODB_URI", "MONGODB_DATABASE", "MONGOSHOP_ENV", "MONGOSHOP_TOKEN_SECRET"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_use_the_embedded_database() -> None:
    settings = load_settings()
    assert settings.embedded
    assert settings.mongodb_database == "mongoshop"


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URI", "mongodb://db.example:27017/?replicaSet=rs0")
    monkeypatch.setenv("MONGODB_DATABASE", "shop")
    monkeypatch.setenv("MONGOSHOP_MAX_POOL_SIZE", "7")
    monkeypatch.setenv("MONGOSHOP_SERVER_API_VERSION", "1")
    settings = load_settings()
    assert not settings.embedded
    assert settings.mongodb_database == "shop"
    options = client_options(settings)
    assert options["maxPoolSize"] == 7
    assert options["tz_aware"] is True
    assert options["server_api"].version == "1"


def test_values_come_from_a_dot_env_file(tmp_path: object) -> None:
    from pathlib import Path

    Path(".env").write_text("MONGODB_DATABASE=fromfile\n")
    assert load_settings().mongodb_database == "fromfile"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MONGOSHOP_MAX_POOL_SIZE", "zero"),
        ("MONGOSHOP_SERVER_SELECTION_TIMEOUT_MS", "-5"),
        ("MONGOSHOP_TOKEN_TTL_SECONDS", "1"),
        ("MONGODB_DATABASE", "bad/name"),
        ("MONGOSHOP_SERVER_API_VERSION", "2"),
    ],
)
def test_an_invalid_value_is_reported_with_its_variable_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable):
        load_settings()


def test_production_refuses_the_development_token_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGOSHOP_ENV", "production")
    with pytest.raises(ConfigurationError, match="MONGOSHOP_TOKEN_SECRET"):
        load_settings()
    monkeypatch.setenv("MONGOSHOP_TOKEN_SECRET", "a-real-secret-of-enough-length-123")
    assert load_settings().environment == "production"


def test_pool_bounds_and_admin_variables_must_be_consistent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigurationError, match="MIN_POOL_SIZE"):
        load_settings(min_pool_size=10, max_pool_size=5)
    monkeypatch.setenv("MONGOSHOP_ADMIN_EMAIL", "ops@example.com")
    with pytest.raises(ConfigurationError, match="MONGOSHOP_ADMIN_PASSWORD"):
        load_settings()


def test_a_standalone_server_is_refused_with_a_clear_message() -> None:
    require_replica_set({"setName": "rs0"})
    require_replica_set({"msg": "isdbgrid"})
    with pytest.raises(ConfigurationError, match="replica set"):
        require_replica_set({"isWritablePrimary": True})


def test_settings_is_the_pydantic_settings_class() -> None:
    assert issubclass(Settings, object)
    assert "mongodb_uri" in Settings.model_fields
