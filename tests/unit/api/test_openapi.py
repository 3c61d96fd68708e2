"""The OpenAPI contract: links between operations (no database)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from mongoshop.api.app import create_app
from mongoshop.settings import Settings

GENERATOR = Path(__file__).parents[3] / ".venv-client" / "bin" / "openapi-python-client"
"""Installed by scripts/test in an environment of its own (it pins an older Typer)."""


def schema() -> dict[str, Any]:
    contract: dict[str, Any] = create_app(Settings(environment="test")).openapi()  # type: ignore[call-arg]
    return contract


def linked_operations(contract: dict[str, Any]) -> set[str]:
    return {
        link["operationId"]
        for item in contract["paths"].values()
        for operation in item.values()
        for response in operation.get("responses", {}).values()
        for link in response.get("links", {}).values()
    }


def test_outputs_link_into_the_operations_that_need_them() -> None:
    """Schemathesis' stateful phase found nothing linking into these: now something does."""
    linked = linked_operations(schema())

    assert {
        "place_order_orders_post",
        "transfer_transfers_post",
        "bulk_status_users_bulk_status_post",
        "cancel_order_orders__order_id__cancel_post",
    } <= linked


def test_a_link_names_its_values_from_the_response() -> None:
    order = schema()["paths"]["/orders"]["post"]["responses"]["201"]["links"]["CancelIt"]

    assert order["parameters"] == {"order_id": "$response.body#/id"}


def test_time_zones_are_stated_once_as_a_named_component() -> None:
    contract = json.dumps(schema())

    assert contract.count('"Africa/Abidjan"') == 1
    assert '"#/components/schemas/Timezone"' in contract
    for not_a_zone in ("localtime", "posixrules", "Factory"):
        assert f'"{not_a_zone}"' not in contract


def test_the_usual_python_client_generator_builds_a_client_out_of_the_box(
    tmp_path: Path,
) -> None:
    """openapi-python-client with no settings at all (it used to stop on the time zones:
    "Duplicate key GMT0 in enum PreferencesTimezone")."""
    (tmp_path / "openapi.json").write_text(json.dumps(schema()))
    generator = GENERATOR
    assert generator.exists(), f"{generator} is missing: ./scripts/test installs it"

    result = subprocess.run(
        [
            str(generator),
            "generate",
            "--path",
            "openapi.json",
            "--meta",
            "none",
            "--output-path",
            "client",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    zones = (tmp_path / "client" / "models" / "timezone.py").read_text()
    assert 'GMT_PLUS_0 = "GMT+0"' in zones
    assert 'GMT0 = "GMT0"' in zones
    assert "place_order_orders_post" not in result.stderr
