"""SQLAlchemy's asyncio extension without its ORM half.

``import sqlalchemy.ext.asyncio`` runs a package ``__init__`` that imports ``AsyncSession``,
and with it all of ``sqlalchemy.orm`` (~6 MB of RSS in each serving process), though we use
Core only: ``AsyncEngine``, ``AsyncConnection`` and the async results. ``install`` puts the
package in ``sys.modules`` without running that ``__init__``; the Core names are read from
their own submodules (``engine``, ``result``) when first asked for, and any other name
(``AsyncSession``...) runs the real ``__init__`` then, so whoever wants the ORM still gets it.

It must run before anything imports ``sqlalchemy.ext.asyncio``: ``omnirelay.store`` installs it
first thing (``tests/test_lean_imports.py`` checks what a worker loads).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

PACKAGE = "sqlalchemy.ext.asyncio"
# The Core half of the package's namespace, and the submodule that defines each name.
CORE = {
    "AsyncConnection": "engine",
    "AsyncEngine": "engine",
    "AsyncTransaction": "engine",
    "async_engine_from_config": "engine",
    "create_async_engine": "engine",
    "create_async_pool_from_url": "engine",
    "AsyncMappingResult": "result",
    "AsyncResult": "result",
    "AsyncScalarResult": "result",
    "AsyncTupleResult": "result",
}


def install() -> None:
    if PACKAGE in sys.modules:
        return  # imported already, whole: nothing to save any more
    import sqlalchemy.ext
    from sqlalchemy.util import concurrency

    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.loader is None or not spec.submodule_search_locations:
        return
    package = importlib.util.module_from_spec(spec)  # its __init__ does not run
    whole = False

    def attribute(name: str) -> Any:
        nonlocal whole
        if name in CORE and not whole:
            try:
                value = getattr(importlib.import_module(f"{PACKAGE}.{CORE[name]}"), name)
            except (ImportError, AttributeError):
                pass  # moved in another release: the real __init__ knows where
            else:
                setattr(package, name, value)
                return value
        if (name == "__all__" or not name.startswith("__")) and not whole:
            if name != "__all__" and importlib.util.find_spec(f"{PACKAGE}.{name}") is not None:
                return importlib.import_module(f"{PACKAGE}.{name}")  # `from . import exc`
            whole = True
            assert spec.loader is not None
            spec.loader.exec_module(package)  # the real __init__, in the same module object
            if name in package.__dict__:
                return package.__dict__[name]
        raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")

    package.__getattr__ = attribute  # type: ignore[method-assign]
    sys.modules[PACKAGE] = package
    sqlalchemy.ext.asyncio = package
    # What the real __init__ does besides importing: fail early without greenlet. Private,
    # so a release without it only loses the early failure (greenlet is then asked at use).
    initialize = getattr(getattr(concurrency, "_concurrency_shim", None), "_initialize", None)
    if initialize is not None:
        initialize()
