"""What the OpenAPI contract says beyond what the models alone can.

The shop runs in one currency, chosen at deployment (MONGOSHOP_CURRENCY), so
the contract names it: a client (or schemathesis) reading the schema then
knows that a price in any other currency will be refused.

It also says where one operation's answer feeds another (OpenAPI links): the
id of a new product into an order, an order's id into its cancellation, a
credited account's id into a transfer, a user's id into the admin's bulk status. Tools
that follow links (Schemathesis' stateful tests, client generators) chain them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from mongoshop.models.users import TIMEZONE_COMPONENT
from mongoshop.settings import Settings

Operation = tuple[str, str, str]
"""(method, path, status) of a response."""

LINKS: dict[Operation, dict[str, dict[str, Any]]] = {
    ("post", "/products", "201"): {
        "OrderIt": {
            "operationId": "place_order_orders_post",
            "requestBody": {"items": [{"product_id": "$response.body#/id", "quantity": 1}]},
            "description": "Buy one of the new product.",
        },
        "ReadIt": {
            "operationId": "read_product_products__product_id__get",
            "parameters": {"product_id": "$response.body#/id"},
        },
        "RestockIt": {
            "operationId": "change_inventory_products__product_id__inventory_post",
            "parameters": {"product_id": "$response.body#/id"},
        },
    },
    ("post", "/orders", "201"): {
        "CancelIt": {
            "operationId": "cancel_order_orders__order_id__cancel_post",
            "parameters": {"order_id": "$response.body#/id"},
            "description": "Cancel the order just placed.",
        },
        "ReadIt": {
            "operationId": "read_order_orders__order_id__get",
            "parameters": {"order_id": "$response.body#/id"},
        },
    },
    ("post", "/accounts/{account_id}/credit", "200"): {
        "TransferToIt": {
            "operationId": "transfer_transfers_post",
            "requestBody": {
                "to_account_id": "$response.body#/id",
                "amount": 1,
                "currency": "$response.body#/balance/currency",
            },
            "description": "Send money to the account just credited (from one's own).",
        },
    },
    ("get", "/users/me", "200"): {
        "SetItsStatus": {
            "operationId": "bulk_status_users_bulk_status_post",
            "requestBody": {"ids": ["$response.body#/id"], "status": "inactive"},
            "description": "An admin sets this user's status.",
        },
        "ReadIt": {
            "operationId": "read_user_users__user_id__get",
            "parameters": {"user_id": "$response.body#/id"},
        },
    },
}


def add_links(schema: dict[str, Any]) -> None:
    """Put `LINKS` into the schema; an operation id that does not exist is an error."""
    operations = {
        operation.get("operationId")
        for item in schema.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict)
    }
    for (method, path, status), links in LINKS.items():
        for name, link in links.items():
            if link["operationId"] not in operations:
                raise KeyError(
                    f"link {name} of {method} {path}: no operation {link['operationId']}"
                )
        response = schema["paths"][path][method]["responses"][status]
        response["links"] = links


def name_timezones(schema: dict[str, Any]) -> None:
    """State the ~600 time zones once, as the `Timezone` component, referred to everywhere.

    Inlined in every field that takes one, the list made the contract heavy, and a
    client generator turned each copy into an enum whose member names collide
    (``GMT+0``, ``GMT-0`` and ``GMT0``); the component carries unique names for them
    (``x-enum-varnames``), which generators such as openapi-python-client use.
    """
    zones = TIMEZONE_COMPONENT["enum"]

    def replace(node: Any) -> Any:
        if isinstance(node, dict):
            if node.get("enum") == zones:
                kept = {k: v for k, v in node.items() if k in ("default", "description")}
                return {"$ref": "#/components/schemas/Timezone", **kept}
            return {key: replace(value) for key, value in node.items()}
        if isinstance(node, list):
            return [replace(item) for item in node]
        return node

    schema["paths"] = replace(schema.get("paths", {}))
    components = schema.setdefault("components", {})
    components["schemas"] = replace(components.get("schemas", {}))
    components["schemas"]["Timezone"] = TIMEZONE_COMPONENT


def install_openapi(app: FastAPI, settings: Settings) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for component in schema.get("components", {}).get("schemas", {}).values():
                currency = component.get("properties", {}).get("currency")
                if currency is not None and currency.get("type") == "string":
                    currency["enum"] = [settings.currency]
            add_links(schema)
            name_timezones(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
