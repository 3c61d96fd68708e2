"""Settings: read from the environment, and refused with a message naming the variable."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from mongoshop.db.clients import client_options, require_supported_server
from mongoshop.errors import ConfigurationError
from mongoshop.settings import Settings, load_settings, variable_name

ROOT = Path(__file__).resolve().parents[2]

URI = "mongodb://db.example:27017/?replicaSet=rs0"


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


def test_production_refuses_the_embedded_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """It listens without authentication: any local user could read and write it."""
    monkeypatch.setenv("MONGOSHOP_ENV", "production")
    monkeypatch.setenv("MONGOSHOP_TOKEN_SECRET", "a-real-secret-of-enough-length-123")
    monkeypatch.setenv("MONGOSHOP_METRICS_TOKEN", "a-metrics-token-of-enough-length")
    monkeypatch.delenv("MONGODB_URI", raising=False)
    with pytest.raises(ConfigurationError, match="MONGODB_URI must be set in production"):
        load_settings()
    monkeypatch.setenv("MONGODB_URI", "mongodb://db.example:27017/?replicaSet=rs0")
    assert not load_settings().embedded


def test_production_refuses_the_development_token_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGOSHOP_ENV", "production")
    monkeypatch.setenv("MONGODB_URI", "mongodb://db.example:27017/?replicaSet=rs0")
    with pytest.raises(ConfigurationError, match="MONGOSHOP_TOKEN_SECRET"):
        load_settings()
    monkeypatch.setenv("MONGOSHOP_TOKEN_SECRET", "a-real-secret-of-enough-length-123")
    monkeypatch.setenv("MONGOSHOP_METRICS_TOKEN", "a-metrics-token-of-enough-length")
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
    require_supported_server({"setName": "rs0", "maxWireVersion": 25})
    with pytest.raises(ConfigurationError, match="standalone server"):
        require_supported_server({"isWritablePrimary": True, "maxWireVersion": 25})


def test_a_sharded_cluster_is_refused_clearly_until_it_is_supported() -> None:
    with pytest.raises(ConfigurationError, match=r"sharded cluster \(mongos\)"):
        require_supported_server({"msg": "isdbgrid", "maxWireVersion": 25})


@pytest.mark.parametrize("wire", [7, None])
def test_a_server_older_than_mongodb_4_2_is_refused(wire: int | None) -> None:
    with pytest.raises(ConfigurationError, match=r"MongoDB 4\.2 or newer"):
        require_supported_server({"setName": "rs0", "maxWireVersion": wire})


def test_settings_is_the_pydantic_settings_class() -> None:
    assert issubclass(Settings, object)
    assert "mongodb_uri" in Settings.model_fields


def test_no_proxy_is_trusted_unless_named() -> None:
    from mongoshop.cli.serve import proxy_options

    assert proxy_options(Settings(environment="test")) == {  # type: ignore[call-arg]
        "proxy_headers": False,
        "forwarded_allow_ips": "",
    }
    named = Settings(environment="test", trusted_proxies="10.0.0.5, 10.1.0.0/16")  # type: ignore[call-arg]
    assert proxy_options(named) == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["10.0.0.5", "10.1.0.0/16"],
    }


def test_production_refuses_a_public_metrics_route() -> None:
    secret = "a-real-production-secret-0123456789"
    with pytest.raises(ValueError, match="MONGOSHOP_METRICS_TOKEN must be set in production"):
        Settings(environment="production", token_secret=secret, mongodb_uri=URI)  # type: ignore[call-arg,arg-type]
    Settings(  # type: ignore[call-arg]
        environment="production",
        token_secret=secret,  # type: ignore[arg-type]
        metrics_token="a-metrics-token-0123456789",  # type: ignore[arg-type]
        mongodb_uri=URI,
    )
    Settings(environment="production", token_secret=secret, metrics_enabled=False, mongodb_uri=URI)  # type: ignore[call-arg,arg-type]


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("Lamp = bright", "Lamp = bright"),
        (-250, "-250"),
        (1.5, "1.5"),
        (None, ""),
        (["=x"], '["=x"]'),
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(value: object, cell: str) -> None:
    from mongoshop.cli.export import _csv_cell

    assert _csv_cell(value) == cell


def test_production_gets_no_demo_data_unless_asked() -> None:
    from mongoshop.cli.serve import wants_demo

    secret = "a-real-production-secret-0123456789"
    production = Settings(  # type: ignore[call-arg]
        environment="production",
        token_secret=secret,  # type: ignore[arg-type]
        metrics_enabled=False,
        mongodb_uri=URI,
    )
    development = Settings(environment="development")  # type: ignore[call-arg]

    assert wants_demo(production, None) is False
    assert wants_demo(production, True) is True
    assert wants_demo(development, None) is True
    assert wants_demo(development, False) is False


def test_every_setting_is_documented_where_it_is_declared() -> None:
    """`docs/configuration.md` is generated from these descriptions: none may be missing."""
    undocumented = [name for name, f in Settings.model_fields.items() if not f.description]
    assert not undocumented


def test_every_setting_is_read_from_its_documented_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The prefix gives each field its variable; the three aliases keep theirs."""
    assert variable_name("mail_max_attempts") == "MONGOSHOP_MAIL_MAX_ATTEMPTS"
    assert variable_name("environment") == "MONGOSHOP_ENV"
    assert variable_name("mongodb_uri") == "MONGODB_URI"
    monkeypatch.setenv("MONGOSHOP_MAIL_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("MONGOSHOP_CANCEL_WINDOW_SECONDS", "60")
    monkeypatch.setenv("MONGODB_DATABASE", "elsewhere")
    settings = load_settings()
    assert (settings.mail_max_attempts, settings.cancel_window_seconds) == (7, 60)
    assert settings.mongodb_database == "elsewhere"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_config_docs", ROOT / "tools" / "gen_config_docs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_configuration_page_is_generated_from_the_settings() -> None:
    """Run ``python tools/gen_config_docs.py`` after changing a setting."""
    page = ROOT / "docs" / "configuration.md"
    assert page.read_text() == _generator().render()
    for name in Settings.model_fields:
        assert f"`{variable_name(name)}`" in page.read_text()


def test_webhooks_to_private_addresses_are_for_development_only() -> None:
    secret = "a-real-production-secret-0123456789"
    with pytest.raises(
        ValueError, match="MONGOSHOP_WEBHOOK_ALLOW_PRIVATE_TARGETS is for development"
    ):
        Settings(  # type: ignore[call-arg]
            environment="production",
            token_secret=secret,  # type: ignore[arg-type]
            metrics_enabled=False,
            webhook_allow_private_targets=True,
            mongodb_uri=URI,
        )
    assert Settings(environment="development", webhook_allow_private_targets=True)  # type: ignore[call-arg]


def test_a_webhook_lease_must_outlive_an_attempt() -> None:
    with pytest.raises(ValueError, match="MONGOSHOP_WEBHOOK_LEASE_SECONDS must be at least twice"):
        Settings(webhook_timeout_seconds=20, webhook_lease_seconds=30)  # type: ignore[call-arg]
