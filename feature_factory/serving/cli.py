"""`feature-factory serve`: the feature server on uvicorn, reading the configured online store.

Options become environment variables read by `app_from_env`, so `--workers N` (uvicorn imports the
app in each worker process) and a single process serve exactly the same app.
"""

from __future__ import annotations

import argparse
import os

from feature_factory.serving.answer import DEFAULT_MAX_IDS
from feature_factory.serving.config import DEFAULT_PORT, STORE_TYPES

_ENV = {"store": "FEATURE_FACTORY_ONLINE_STORE", "path": "FEATURE_FACTORY_ONLINE_STORE_PATH",
        "redis_url": "FEATURE_FACTORY_REDIS_URL", "max_ids": "FEATURE_FACTORY_SERVE_MAX_IDS",
        "ttl_days": "FEATURE_FACTORY_SERVE_TTL_DAYS"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--store", choices=STORE_TYPES, default=None,
                        help="online store backend (default: FEATURE_FACTORY_ONLINE_STORE or sqlite)")
    parser.add_argument("--path", default=None, help="SQLite file (default <home>/online_store.sqlite)")
    parser.add_argument("--redis-url", default=None, help="Redis URL (default redis://localhost:6379/0)")
    parser.add_argument("--max-ids", type=int, default=None,
                        help=f"most entity ids in one request (default {DEFAULT_MAX_IDS})")
    parser.add_argument("--ttl-days", type=int, default=None,
                        help="serve values older than this as stale (default: the TTL the store was written with)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")


def app_from_env():
    from feature_factory.serving.config import store_from_env
    from feature_factory.serving.server import create_app

    ttl = os.environ.get(_ENV["ttl_days"])
    return create_app(store_from_env(), max_ids=int(os.environ.get(_ENV["max_ids"]) or DEFAULT_MAX_IDS),
                      ttl_days=int(ttl) if ttl else None)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    for key, var in _ENV.items():
        value = getattr(args, key)
        if value is not None:
            os.environ[var] = str(value)
    store = app_from_env().state.store  # fail now, with the message, on a bad configuration
    current = store.current()
    print(f"feature server on http://{args.host}:{args.port} reading {store.describe()} "
          f"({'version ' + current.version + ', ' + str(current.rows) + ' rows' if current else 'no version yet: materialize customer_features_online_store'})",
          flush=True)
    store.close()
    uvicorn.run("feature_factory.serving.cli:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, access_log=False)
    return 0
