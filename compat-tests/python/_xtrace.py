"""Helpers shared by the Python SDK suites (stdlib only, so both SDK venvs can import it).

`require` skips a test when xtrace answers 404 to a probe of an endpoint the test needs (the
endpoint is not built yet); `eventually` polls a read until the asynchronous ingestion has
committed what the test sent.
"""

import base64
import json
import os
import time
import urllib.error
import urllib.request

import pytest

BASE_URL = os.environ["LANGFUSE_HOST"].rstrip("/")
PUBLIC_KEY = os.environ["LANGFUSE_PUBLIC_KEY"]
SECRET_KEY = os.environ["LANGFUSE_SECRET_KEY"]


def http(method, path, body=None):
    """Raw request with Basic project auth; returns (status, parsed JSON or text)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE_URL + path, data=data, method=method)
    token = base64.b64encode(f"{PUBLIC_KEY}:{SECRET_KEY}".encode()).decode()
    req.add_header("Authorization", "Basic " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def require(method, path, body=None):
    """Skips the calling test when `method path` answers 404 (route not built in xtrace), or
    405 because only another method is routed at that path.

    Probes are chosen so that an existing route never answers 404 (list endpoints, or a POST
    with an invalid body that an existing route rejects with 400).
    """
    status, payload = http(method, path, body)
    if status in (404, 405):
        # 405: the path is routed for another method only (e.g. legacy POST /api/public/traces).
        pytest.skip(f"xtrace has no {method} {path} yet (answered {status}: {payload})")
    return status, payload


def eventually(check, timeout=20.0, interval=0.25):
    """Calls `check()` until it returns without raising; re-raises the last error on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except Exception:  # noqa: BLE001 - any read error or assertion means "not yet"
            if time.monotonic() >= deadline:
                raise
            time.sleep(interval)
