"""`feature-factory serve`: the feature server on uvicorn, reading the configured online store of
one entity (`--entity`, default customer: `customer_features_online_store`; another entity's is
`<entity>_features_online_store`, its own file or key prefix).

Options become environment variables read by `app_from_env`, so `--workers N` (uvicorn imports the
app in each worker process) and a single process serve exactly the same app.

Start-up problems are one line on stderr and exit code 2 (a bad option, keys file or catalog, a
store file that is not a store, a port in use), never a traceback. Redis down is not one of them:
the server starts, says so, answers 503 until Redis is back and then serves without a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys

from feature_factory.serving.answer import DEFAULT_MAX_IDS
from feature_factory.serving.config import CUSTOMER, DEFAULT_PORT, STORE_TYPES

_ENV = {"store": "FEATURE_FACTORY_ONLINE_STORE", "path": "FEATURE_FACTORY_ONLINE_STORE_PATH",
        "redis_url": "FEATURE_FACTORY_REDIS_URL", "max_ids": "FEATURE_FACTORY_SERVE_MAX_IDS",
        "ttl_days": "FEATURE_FACTORY_SERVE_TTL_DAYS", "entity": "FEATURE_FACTORY_SERVE_ENTITY",
        "keys": "FEATURE_FACTORY_SERVE_KEYS", "redis_timeout": "FEATURE_FACTORY_REDIS_TIMEOUT"}


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
    parser.add_argument("--redis-timeout", type=float, default=None,
                        help="seconds a Redis connect or read may take before the request answers 503 "
                        "(default 1)")
    parser.add_argument("--keys", default=None,
                        help="API keys file (YAML; see docs/serving.md): with it, /features and /schema need "
                        "a key and answer only its scope; PII features are masked for keys without the pii "
                        "scope (default: FEATURE_FACTORY_SERVE_KEYS, or no keys: open)")
    parser.add_argument("--new-key", metavar="NAME", default=None,
                        help="print a new random API key and its keys-file entry (only its hash), then exit")
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


def _catalog_pii(entity: str) -> frozenset[str]:
    """The features the catalog marks PII for `entity` (masked even when the store was published
    before the mark was added)."""
    from feature_factory.catalog import load_catalog

    return frozenset(f.name for f in load_catalog().for_entity(entity).features if f.pii)


def app_from_env():
    from feature_factory.catalog.loader import CatalogError
    from feature_factory.serving.access import AccessError, policy_from_env
    from feature_factory.serving.config import store_from_env
    from feature_factory.serving.read_log import ReadLog, default_path
    from feature_factory.serving.server import create_app

    entity = served_entity()
    # The worker thread that builds large answers hands the interpreter lock back to the event
    # loop every 1 ms instead of Python's default 5 ms (a server process: nothing else to disturb).
    sys.setswitchinterval(0.001)
    ttl = os.environ.get(_ENV["ttl_days"])
    try:
        policy = policy_from_env()
        pii = _catalog_pii(entity.name)
    except AccessError as exc:
        raise ServeError(f"--keys: {exc}") from None
    except CatalogError as exc:
        raise ServeError(f"catalog: {exc}") from None
    try:
        store = store_from_env(entity.name)
    except ValueError as exc:
        raise ServeError(str(exc)) from None
    # Online reads per feature and key, for the usage ledger (feature_usage's `online` readers).
    reads = ReadLog(default_path())
    return create_app(store, max_ids=int(os.environ.get(_ENV["max_ids"]) or DEFAULT_MAX_IDS),
                      ttl_days=int(ttl) if ttl else None, entity=entity, policy=policy, pii=pii,
                      read_log=reads)


def _port_free(host: str, port: int) -> str | None:
    """None when `host:port` can be bound (as uvicorn will), else the reason."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


async def _probe(store):
    try:
        return await store.acurrent()
    finally:
        await store.aclose()


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from feature_factory.serving.store import StoreError, store_asset

    if args.new_key:
        from feature_factory.serving.access import AccessError, key_entry, new_key

        key = new_key()
        try:
            entry = key_entry(args.new_key, key, [args.entity] if args.entity else None)
        except AccessError as exc:
            print(f"feature-factory serve: --new-key: {exc}", file=sys.stderr)
            return 2
        print(f"API key (give it to its caller; only its hash is kept):\n{key}\n\n"
              f"Add to the keys file (--keys / FEATURE_FACTORY_SERVE_KEYS) under `keys:`:\n{entry}")
        return 0
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
    try:
        current, note = asyncio.run(_probe(store)), None
    except StoreError as exc:
        if store.kind != "redis":
            print(f"feature-factory serve: {exc}", file=sys.stderr)
            return 2
        # Redis may come back: start, answer 503 meanwhile (as a running server does when it goes).
        current, note = None, f"Redis is unreachable now ({exc}); answering 503 until it is back"
    busy = _port_free(args.host, args.port)
    if busy:
        print(f"feature-factory serve: cannot listen on {args.host}:{args.port}: {busy} "
              "(another server there? choose --port)", file=sys.stderr)
        return 2
    state = note or ("version " + current.version + ", " + str(current.rows) + " rows" if current
                     else "no version yet: materialize " + store_asset(app.state.entity.name))
    policy = app.state.policy
    access = (f"; {len(policy.by_hash)} API key(s) from {policy.source}" if policy.enabled
              else "; no API keys: open to every caller (--keys)")
    print(f"feature server on http://{args.host}:{args.port} answering {key} values from {store.describe()} "
          f"({state}){access}", flush=True)
    store.close()
    uvicorn.run("feature_factory.serving.cli:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, access_log=False)
    return 0
