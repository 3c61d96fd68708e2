"""mongoshop: a shop backend on MongoDB with one async source and a generated sync face.

The public surface is small: `AsyncShop` (for asyncio code such as the API and
the worker) and `Shop` (for scripts, batch jobs, Flask or Django) give the
services over a database.
"""

__version__ = "0.1.0"

__all__ = ["AsyncShop", "Shop", "__version__"]


def __getattr__(name: str) -> object:
    # Lazy, so that `import mongoshop` (e.g. for __version__) does not import the driver.
    if name == "AsyncShop":
        from mongoshop._async.shop import AsyncShop

        return AsyncShop
    if name == "Shop":
        from mongoshop._sync.shop import Shop

        return Shop
    raise AttributeError(name)
