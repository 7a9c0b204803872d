"""`feature-factory serve`: the feature server on uvicorn, reading the configured online store of
one entity (`--entity`, default customer: `customer_features_online_store`; another entity's is
`<entity>_features_online_store`, its own file or key prefix).

Options become environment variables read by `app_from_env`, so `--workers N` (uvicorn imports the
app in each worker process) and a single process serve exactly the same app.
"""

from __future__ import annotations

import argparse
import os
import sys

from feature_factory.serving.answer import DEFAULT_MAX_IDS
from feature_factory.serving.config import CUSTOMER, DEFAULT_PORT, STORE_TYPES

_ENV = {"store": "FEATURE_FACTORY_ONLINE_STORE", "path": "FEATURE_FACTORY_ONLINE_STORE_PATH",
        "redis_url": "FEATURE_FACTORY_REDIS_URL", "max_ids": "FEATURE_FACTORY_SERVE_MAX_IDS",
        "ttl_days": "FEATURE_FACTORY_SERVE_TTL_DAYS", "entity": "FEATURE_FACTORY_SERVE_ENTITY"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--entity", default=None,
                        help="whose ids POST /features answers: customer (default) or an entity declared in "
                        "the sources file (FEATURE_FACTORY_SOURCES), e.g. product; one server per entity")
    parser.add_argument("--store", choices=STORE_TYPES, default=None,
                        help="online store backend (default: FEATURE_FACTORY_ONLINE_STORE or sqlite)")
    parser.add_argument("--path", default=None, help="the customer's SQLite file (default <home>/online_store.sqlite; "
                        "another entity's is beside it, <stem>.<entity>.sqlite)")
    parser.add_argument("--redis-url", default=None, help="Redis URL (default redis://localhost:6379/0)")
    parser.add_argument("--max-ids", type=int, default=None,
                        help=f"most entity ids in one request (default {DEFAULT_MAX_IDS})")
    parser.add_argument("--ttl-days", type=int, default=None,
                        help="serve values older than this as stale (default: the TTL the store was written with)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")


class ServeError(ValueError):
    """`serve` cannot start; the message names the option and the fix."""


def served_entity():
    """The entity FEATURE_FACTORY_SERVE_ENTITY names (default customer), resolved from the sources file."""
    from feature_factory.features.entities import entity_tables

    name = (os.environ.get(_ENV["entity"]) or CUSTOMER).strip()
    try:
        return entity_tables(name)
    except KeyError as exc:
        raise ServeError(f"--entity {name}: {exc.args[0]}") from None


def app_from_env():
    from feature_factory.serving.config import store_from_env
    from feature_factory.serving.server import create_app

    entity = served_entity()
    ttl = os.environ.get(_ENV["ttl_days"])
    return create_app(store_from_env(entity.name), max_ids=int(os.environ.get(_ENV["max_ids"]) or DEFAULT_MAX_IDS),
                      ttl_days=int(ttl) if ttl else None, entity=entity)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from feature_factory.serving.store import store_asset

    for key, var in _ENV.items():
        value = getattr(args, key)
        if value is not None:
            os.environ[var] = str(value)
    try:
        app = app_from_env()  # fail now, with the message, on a bad configuration
    except ServeError as exc:
        print(f"feature-factory serve: {exc}", file=sys.stderr)
        return 2
    store, key = app.state.store, app.state.entity.key
    current = store.current()
    print(f"feature server on http://{args.host}:{args.port} answering {key} values from {store.describe()} "
          f"({'version ' + current.version + ', ' + str(current.rows) + ' rows' if current else 'no version yet: materialize ' + store_asset(app.state.entity.name)})",
          flush=True)
    store.close()
    uvicorn.run("feature_factory.serving.cli:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, access_log=False)
    return 0
