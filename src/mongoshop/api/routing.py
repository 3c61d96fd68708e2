"""Routes that refuse a single-valued query parameter given more than once.

Starlette keeps every value of a repeated query parameter and FastAPI hands a
scalar parameter the last one, so ``?category=a&category=b`` would quietly
search ``b``. A client that sends two values means something we do not do:
it gets a 422 that names the parameter.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from mongoshop.errors import ValidationFailed

_MULTI_VALUED = (list, tuple, set, frozenset, Sequence)


def _is_multi_valued(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_multi_valued(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return any(_is_multi_valued(arg) for arg in get_args(annotation))
    return origin in _MULTI_VALUED or annotation in _MULTI_VALUED


def _query_params(dependant: Dependant) -> Iterator[tuple[str, Any]]:
    for field in dependant.query_params:
        yield field.alias, field.field_info.annotation
    for sub in dependant.dependencies:
        yield from _query_params(sub)


def single_valued_query_params(dependant: Dependant) -> frozenset[str]:
    """The route's query parameters (its dependencies' included) that take one value."""
    return frozenset(
        name for name, annotation in _query_params(dependant) if not _is_multi_valued(annotation)
    )


class SingleValuedQueryRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        single = single_valued_query_params(self.dependant)
        if not single:
            return handler

        async def checked(request: Request) -> Response:
            names = [name for name, _ in request.query_params.multi_items()]
            if len(names) != len(set(names)):  # rare: only then look closer
                repeated = sorted({name for name in names if names.count(name) > 1} & single)
                if repeated:
                    raise ValidationFailed(
                        f"query parameter {', '.join(repeated)}: give it once, not "
                        f"{names.count(repeated[0])} times"
                    )
            return await handler(request)

        return checked
