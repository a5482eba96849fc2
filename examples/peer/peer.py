#!/usr/bin/env python3
"""The peer `examples/bench` measures bccreds against: the reconciler a competent team writes
instead, in an afternoon, with the usual libraries (PyYAML, jsonschema, requests with a thread
pool, sqlite3, Laravel's encryption through `cryptography`) and a content-hash skip.

It does what a bccreds pass does in file mode, without the safety bccreds adds: it reads every
`*.yaml` under --dir, validates each BigCommerceCredential against the JSON Schema, resolves
`file:` and `env:` tokens, skips credentials whose content hash is stored already, verifies the
others with the same BigCommerce calls as bccreds, writes them (token Laravel-encrypted) in one
transaction, and deletes rows whose manifest is gone. It prints one JSON line:
{"seconds", "created", "updated", "unchanged", "deleted", "failed", "requests", "max_rss_kib"}.
"""

import argparse
import base64
import glob
import hashlib
import hmac
import json
import os
import resource
import sqlite3
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import requests
import yaml
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SCHEMA = """
CREATE TABLE IF NOT EXISTS credentials (
  id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL UNIQUE, label TEXT NOT NULL UNIQUE,
  apiUrl TEXT NOT NULL, accessToken TEXT NOT NULL, status INTEGER NOT NULL,
  defaultLocale TEXT, defaultCurrency TEXT, localeMapping TEXT, currencyMapping TEXT,
  storeInfo TEXT, content_sha256 TEXT NOT NULL, created_at TEXT, updated_at TEXT)
"""


def laravel_encrypt(key, plaintext):
    """Laravel's Crypt::encryptString: AES-256-CBC, PKCS#7, HMAC-SHA256 over iv and value."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode()) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    value = base64.b64encode(enc.update(data) + enc.finalize()).decode()
    iv64 = base64.b64encode(iv).decode()
    mac = hmac.new(key, (iv64 + value).encode(), hashlib.sha256).hexdigest()
    payload = {"iv": iv64, "value": value, "mac": mac, "tag": ""}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def resolve(source, secrets_dir):
    if "file" in source:
        with open(os.path.join(secrets_dir, source["file"]), encoding="utf-8") as f:
            text = f.read()
        return text[:-1] if text.endswith("\n") else text
    return os.environ[source["env"]]


def scan(directory, secrets_dir, validator):
    wanted, failed = {}, 0
    for path in sorted(glob.glob(os.path.join(directory, "**", "*.yaml"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            docs = list(yaml.safe_load_all(f))
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "BigCommerceCredential":
                continue
            try:
                validator.validate(doc)
                token = resolve(doc["spec"]["accessToken"], secrets_dir)
            except Exception as e:  # noqa: BLE001 - a bad manifest fails alone
                print(f"{path}: {e}", file=sys.stderr)
                failed += 1
                continue
            meta = doc["metadata"]
            key = f"{meta.get('namespace', 'default')}/{meta['name']}"
            content = json.dumps(doc["spec"], sort_keys=True) + "\0" + token
            wanted[key] = (doc["spec"], token, hashlib.sha256(content.encode()).hexdigest())
    return wanted, failed


_local = threading.local()
_requests = 0
_lock = threading.Lock()


def session():
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def call(base, store, path, token, method="GET", body=None):
    global _requests
    with _lock:
        _requests += 1
    url = f"{base}/stores/{store}/{path}"
    headers = {"X-Auth-Token": token, "Accept": "application/json"}
    return session().request(method, url, headers=headers, json=body, timeout=30)


def verify(base, spec, token):
    """The calls bccreds makes: the store, then the catalog summary, and what the mappings need."""
    store = spec["apiUrl"].rstrip("/").rsplit("/", 1)[-1]
    r = call(base, store, "v2/store", token)
    if r.status_code != 200:
        return None, f"v2/store: {r.status_code}"
    info = r.json()
    if call(base, store, "v3/catalog/summary", token).status_code != 200:
        return None, "v3/catalog/summary"
    offered = set()
    if spec.get("currencyMapping"):
        r = call(base, store, "v2/currencies?page=1&limit=250", token)
        if r.status_code == 200:
            offered |= {c["currency_code"] for c in r.json() if c.get("enabled", True)}
        missing = [c for c in spec["currencyMapping"].values() if c not in offered]
        if missing:
            return None, f"currencies {missing}"
    if spec.get("localeMapping"):
        locales = {info.get("language")}
        r = call(base, store, "v3/settings/store/locale", token)
        if r.status_code == 200:
            locales.add(r.json()["data"].get("default_shopper_language"))
        query = {"query": "query { store { locales { edges { node { code } } } } }"}
        r = call(base, store, "graphql", token, "POST", query)
        if r.status_code == 200:
            edges = r.json().get("data", {}).get("store", {}).get("locales", {}).get("edges", [])
            locales |= {e["node"]["code"] for e in edges}
        missing = [l for l in spec["localeMapping"].values() if l not in locales]
        if missing:
            return None, f"locales {missing}"
    return info, None


def peak_rss_kib():
    """VmHWM of this process. Not getrusage's ru_maxrss, which on Linux keeps the parent's peak
    across fork and exec (the harness that starts the peer is far larger)."""
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--secrets-dir", required=True)
    p.add_argument("--base-url", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--schema", required=True)
    p.add_argument("--app-key", required=True, help="base64:…")
    p.add_argument("--threads", type=int, default=64)
    args = p.parse_args()
    started = time.monotonic()
    key = base64.b64decode(args.app_key.removeprefix("base64:"))
    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.validators.validator_for(schema)(schema)

    wanted, failed = scan(args.dir, args.secrets_dir, validator)
    db = sqlite3.connect(args.db)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(SCHEMA)
    stored = dict(db.execute("SELECT key, content_sha256 FROM credentials"))
    todo = [(k, v) for k, v in wanted.items() if stored.get(k) != v[2]]

    def one(item):
        k, (spec, token, digest) = item
        info, problem = verify(args.base_url, spec, token)
        return k, spec, token, digest, info, problem

    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        results = list(pool.map(one, todo))
    created = updated = 0
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    with db:
        for k, spec, token, digest, info, problem in results:
            if problem:
                print(f"{k}: {problem}", file=sys.stderr)
                failed += 1
                continue
            row = (spec["label"], spec["apiUrl"], laravel_encrypt(key, token),
                   1 if spec.get("active", True) else 0, spec.get("defaultLocale"),
                   spec.get("defaultCurrency"), json.dumps(spec.get("localeMapping", {})),
                   json.dumps(spec.get("currencyMapping", {})), json.dumps(info), digest, now)
            if k in stored:
                db.execute("UPDATE credentials SET label=?, apiUrl=?, accessToken=?, status=?, "
                           "defaultLocale=?, defaultCurrency=?, localeMapping=?, currencyMapping=?, "
                           "storeInfo=?, content_sha256=?, updated_at=? WHERE key=?", row + (k,))
                updated += 1
            else:
                db.execute("INSERT INTO credentials (label, apiUrl, accessToken, status, "
                           "defaultLocale, defaultCurrency, localeMapping, currencyMapping, "
                           "storeInfo, content_sha256, updated_at, key, created_at) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", row + (k, now))
                created += 1
        gone = [k for k in stored if k not in wanted]
        db.executemany("DELETE FROM credentials WHERE key=?", [(k,) for k in gone])
    print(json.dumps({
        "seconds": time.monotonic() - started,
        "created": created, "updated": updated, "unchanged": len(wanted) - len(todo),
        "deleted": len(gone), "failed": failed, "requests": _requests,
        "max_rss_kib": peak_rss_kib(),
    }))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
