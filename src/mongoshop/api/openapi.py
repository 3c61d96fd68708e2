"""What the OpenAPI contract says beyond what the models alone can.

The shop runs in one currency, chosen at deployment (MONGOSHOP_CURRENCY), so
the contract names it: a client (or schemathesis) reading the schema then
knows that a price in any other currency will be refused.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from mongoshop.settings import Settings


def install_openapi(app: FastAPI, settings: Settings) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for component in schema.get("components", {}).get("schemas", {}).values():
                currency = component.get("properties", {}).get("currency")
                if currency is not None and currency.get("type") == "string":
                    currency["enum"] = [settings.currency]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
