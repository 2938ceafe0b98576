"""Browser tests of xtrace's web UI: real chromium over WebDriver against a real xtrace.

Seeds two projects through the public API (project A: nested observations with a chat
generation, a session, scores, a prompt, a dataset with two runs, GPU metrics; project B:
one trace), then drives the pages as a person would and checks what is on screen, that
nothing of project B shows in a session of project A, and that the browser console stays
free of errors. Saves a screenshot of every page under $UI_SCREENSHOTS.
"""

import base64
import hashlib
import json
import os
import struct
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib
from datetime import datetime, timedelta, timezone

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

BASE = os.environ["XTRACE_URL"].rstrip("/")
PK = os.environ["XTRACE_PUBLIC_KEY"]
SK = os.environ["XTRACE_SECRET_KEY"]
ADMIN = os.environ["XTRACE_BEARER_TOKEN"]
SHOTS = os.environ.get("UI_SCREENSHOTS", "target/ui-screenshots")
RUN = uuid.uuid4().hex[:8]


# ---------------------------------------------------------------------------- API seeding

def api(method, path, body=None, auth=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if auth is None:
        auth = "Basic " + base64.b64encode(f"{PK}:{SK}".encode()).decode()
    req.add_header("Authorization", auth)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    out = json.loads(raw) if raw else None
    if status >= 300 and status != 207:
        raise AssertionError(f"{method} {path} -> {status}: {out}")
    if status == 207 and out.get("errors"):
        raise AssertionError(f"ingestion errors: {out['errors']}")
    return out


def basic(pk, sk):
    return "Basic " + base64.b64encode(f"{pk}:{sk}".encode()).decode()


def iso(t):
    return t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def ev(kind, body, at):
    return {"id": str(uuid.uuid4()), "type": kind, "timestamp": iso(at), "body": body}


NOW = datetime.now(timezone.utc)
T0 = NOW - timedelta(seconds=40)
TRACE = f"ui-trace-{RUN}"
TRACE2 = f"ui-trace2-{RUN}"
TRACE3 = f"ui-batch-{RUN}"
SESSION = f"sess-{RUN}"
B_TRACE = f"secret-b-{RUN}"
PROMPT = f"qa-prompt-{RUN}"
DATASET = f"qa-set-{RUN}"
TRACE_IMG = f"ui-vision-{RUN}"
MEDIA_ID = None


def tiny_png(w=24, h=24):
    """A solid red PNG, built by hand (no imaging library needed)."""
    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def seed():
    msgs = [
        {"role": "system", "content": "You answer geography questions."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    batch = [
        ev("trace-create", {
            "id": TRACE, "name": "chat-request", "userId": "alice", "sessionId": SESSION,
            "tags": ["prod", "ui-test"], "release": "v1.2.3", "timestamp": iso(T0),
            "input": {"question": "What is the capital of France?"},
            "output": "Paris is the capital of France.",
            "metadata": {"node_id": "node-a", "gpu_index": 0},
        }, T0),
        ev("span-create", {
            "id": f"{RUN}-pipeline", "traceId": TRACE, "name": "pipeline",
            "startTime": iso(T0), "endTime": iso(T0 + timedelta(seconds=3)),
        }, T0),
        ev("span-create", {
            "id": f"{RUN}-retrieve", "traceId": TRACE, "parentObservationId": f"{RUN}-pipeline",
            "name": "retrieve-docs", "startTime": iso(T0 + timedelta(milliseconds=100)),
            "endTime": iso(T0 + timedelta(milliseconds=600)),
            "input": {"query": "capital of France"}, "output": {"docs": ["France: capital Paris"]},
        }, T0),
        ev("generation-create", {
            "id": f"{RUN}-llm", "traceId": TRACE, "parentObservationId": f"{RUN}-pipeline",
            "name": "llm-call", "model": "gpt-4o", "modelParameters": {"temperature": 0.2},
            "startTime": iso(T0 + timedelta(milliseconds=700)),
            "completionStartTime": iso(T0 + timedelta(milliseconds=1100)),
            "endTime": iso(T0 + timedelta(milliseconds=2800)),
            "input": msgs,
            "output": {"role": "assistant", "content": "Paris is the capital of France."},
            "usageDetails": {"input": 120, "output": 12, "total": 132},
            "costDetails": {"input": 0.0003, "output": 0.00012, "total": 0.00042},
            "promptName": PROMPT, "promptVersion": 1,
        }, T0),
        ev("event-create", {
            "id": f"{RUN}-guard", "traceId": TRACE, "parentObservationId": f"{RUN}-llm",
            "name": "guardrail-check", "level": "ERROR", "statusMessage": "blocked word list unavailable",
            "startTime": iso(T0 + timedelta(milliseconds=2900)),
        }, T0),
        ev("score-create", {"id": f"{RUN}-s1", "traceId": TRACE, "name": "accuracy", "value": 0.9}, T0),
        ev("score-create", {"id": f"{RUN}-s2", "traceId": TRACE, "observationId": f"{RUN}-llm",
                            "name": "helpfulness", "value": 4, "comment": "good"}, T0),
        ev("trace-create", {
            "id": TRACE2, "name": "followup", "userId": "alice", "sessionId": SESSION,
            "timestamp": iso(T0 + timedelta(seconds=10)),
            "input": [{"role": "user", "content": "And of Germany?"}],
            "output": {"role": "assistant", "content": "Berlin."},
        }, T0),
        ev("generation-create", {
            "id": f"{RUN}-llm2", "traceId": TRACE2, "name": "llm-call", "model": "claude-3-haiku",
            "startTime": iso(T0 + timedelta(seconds=10)), "endTime": iso(T0 + timedelta(seconds=11)),
            "usageDetails": {"input": 30, "output": 3}, "costDetails": {"total": 0.00005},
        }, T0),
        ev("trace-create", {
            "id": TRACE3, "name": "batch-job", "userId": "bob", "environment": "staging",
            "timestamp": iso(T0 + timedelta(seconds=20)), "input": "run nightly batch",
        }, T0),
    ]
    api("POST", "/api/public/ingestion", {"batch": batch})

    api("POST", "/api/public/v2/prompts", {
        "name": PROMPT, "type": "chat", "labels": ["production"],
        "prompt": [{"role": "system", "content": "You answer {{topic}} questions."},
                   {"type": "placeholder", "name": "history"},
                   {"role": "user", "content": "{{question}}"}],
        "commitMessage": "first version",
    })
    api("POST", "/api/public/v2/datasets", {"name": DATASET, "description": "capitals"})
    items = []
    for q, a in [("capital of France?", "Paris"), ("capital of Germany?", "Berlin")]:
        items.append(api("POST", "/api/public/dataset-items", {
            "datasetName": DATASET, "input": {"q": q}, "expectedOutput": a})["id"])
    for run, traces in [("run-1", [TRACE, TRACE2]), ("run-2", [TRACE2, TRACE])]:
        for item, tr in zip(items, traces):
            api("POST", "/api/public/dataset-run-items", {
                "runName": run, "datasetItemId": item, "traceId": tr})

    points = []
    for i in range(0, 100, 5):
        at = T0 - timedelta(seconds=30) + timedelta(seconds=i)
        points.append({"name": "gpu_utilization", "labels": {"node_id": "node-a", "gpu_index": "0"},
                       "value": 40 + (i % 30), "timestamp": iso(at)})
        points.append({"name": "gpu_utilization", "labels": {"node_id": "node-b", "gpu_index": "0"},
                       "value": 10 + (i % 7), "timestamp": iso(at)})
        points.append({"name": "gpu_memory_used_bytes", "labels": {"node_id": "node-a", "gpu_index": "0"},
                       "value": 8e9 + i * 1e7, "timestamp": iso(at)})
    api("POST", "/v1/metrics/batch", {"metrics": points})

    # An image uploaded through the media API, referenced from a chat message.
    global MEDIA_ID
    png = tiny_png()
    sha = base64.b64encode(hashlib.sha256(png).digest()).decode()
    media = api("POST", "/api/public/media", {
        "traceId": TRACE_IMG, "field": "input", "contentType": "image/png",
        "contentLength": len(png), "sha256Hash": sha})
    MEDIA_ID = media["mediaId"]
    put = urllib.request.Request(media["uploadUrl"], data=png, method="PUT", headers={
        "Content-Type": "image/png", "x-amz-checksum-sha256": sha})
    with urllib.request.urlopen(put, timeout=20) as r:
        assert r.status in (200, 201), r.status
    api("PATCH", f"/api/public/media/{MEDIA_ID}", {"uploadedAt": iso(NOW), "uploadHttpStatus": 200})
    ref = f"@@@langfuseMedia:type=image/png|id={MEDIA_ID}|source=base64_data_uri@@@"
    api("POST", "/api/public/ingestion", {"batch": [ev("trace-create", {
        "id": TRACE_IMG, "name": "vision-request", "timestamp": iso(T0 - timedelta(seconds=5)),
        "input": [{"role": "user", "content": [
            {"type": "text", "text": "What is in this image?"},
            {"type": "image_url", "image_url": {"url": ref}}]}],
        "output": {"role": "assistant", "content": "A red square."}}, T0)]})

    # Project B, with its own keys, through the admin API.
    admin = "Bearer " + ADMIN
    proj = api("POST", "/api/public/projects", {"name": f"project-b-{RUN}", "retention": 0}, auth=admin)
    key = api("POST", f"/api/public/projects/{proj['id']}/apiKeys", {"note": "ui test"}, auth=admin)
    b_auth = basic(key["publicKey"], key["secretKey"])
    api("POST", "/api/public/ingestion", {"batch": [
        ev("trace-create", {"id": B_TRACE, "name": "project-b-only", "userId": "mallory",
                            "sessionId": f"b-sess-{RUN}", "input": "B secret input"}, NOW)]}, auth=b_auth)
    # Reads are immediate after the acknowledged write.
    assert api("GET", f"/api/public/traces/{TRACE}")["id"] == TRACE
    return proj["id"], key


# ---------------------------------------------------------------------------- browser

def make_driver():
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ["CHROMIUM_BIN"]
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,900", "--no-first-run", "--disable-extensions",
              "--disable-background-networking", "--disable-component-update",
              "--disable-default-apps", "--disable-sync", "--metrics-recording-only",
              "--hide-scrollbars", "--force-color-profile=srgb"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=os.environ["CHROMEDRIVER_BIN"]), options=opts)


class UI:
    def __init__(self):
        self.d = make_driver()
        self.shot_no = 0

    def go(self, path):
        self.d.get(BASE + path)

    def wait(self, css, timeout=10):
        return WebDriverWait(self.d, timeout).until(EC.presence_of_element_located((By.CSS_SELECTOR, css)))

    def text(self):
        return self.d.find_element(By.TAG_NAME, "body").text

    def path(self):
        p = urllib.parse.urlparse(self.d.current_url)
        return p.path + (("?" + p.query) if p.query else "")

    def shot(self, name, full=False):
        self.shot_no += 1
        path = os.path.join(SHOTS, f"{self.shot_no:02d}-{name}.png")
        if full:
            h = self.d.execute_script("return Math.min(document.documentElement.scrollHeight, 2400)")
            self.d.set_window_size(1280, max(900, h))
            self.d.save_screenshot(path)
            self.d.set_window_size(1280, 900)
        else:
            self.d.save_screenshot(path)

    def console_errors(self):
        return [e for e in self.d.get_log("browser") if e.get("level") == "SEVERE"]

    def sign_in_keys(self, pk, sk):
        self.wait("#public_key").send_keys(pk)
        self.d.find_element(By.ID, "secret_key").send_keys(sk)
        self.d.find_element(By.ID, "sign-in").click()

    def sign_out(self):
        self.d.find_element(By.ID, "sign-out").click()
        self.wait("#public_key")


CONSOLE = []


def check_console(ui, where):
    errs = ui.console_errors()
    # 4xx answers the test provokes on purpose show up as network errors; nothing else may.
    errs = [e for e in errs if "status of 4" not in e.get("message", "")]
    if errs:
        CONSOLE.append((where, errs))


def test_deep_link_and_sign_in(ui, project_a):
    ui.d.delete_all_cookies()
    ui.go(f"/project/{project_a}/traces/{TRACE}")
    ui.wait("#public_key")
    assert ui.path().startswith("/auth/sign-in?next="), ui.path()
    ui.shot("sign-in")
    ui.sign_in_keys(PK, "sk-lf-wrong")
    ui.wait("p.error")
    assert "Invalid credentials" in ui.text()
    ui.sign_in_keys(PK, SK)
    ui.wait("#trace-title")
    assert ui.path() == f"/project/{project_a}/traces/{TRACE}", ui.path()
    cookie = ui.d.get_cookie("xtrace_session")
    assert cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", cookie
    assert SK not in ui.d.page_source
    assert ui.d.execute_script("return window.localStorage.length") == 0
    check_console(ui, "sign-in")


def test_trace_list_filters(ui, project_a):
    ui.go(f"/project/{project_a}/traces")
    ui.wait("#traces")
    body = ui.text()
    for name in ["chat-request", "followup", "batch-job"]:
        assert name in body, name
    assert "project-b-only" not in body
    ui.shot("trace-list")
    # Filter by user through the form; the URL holds the state.
    user = ui.d.find_element(By.NAME, "user")
    user.send_keys("bob")
    user.send_keys(Keys.ENTER)
    WebDriverWait(ui.d, 10).until(lambda d: "user=bob" in d.current_url)
    body = ui.text()
    assert "batch-job" in body and "chat-request" not in body, body
    # Level filter: only the trace with an ERROR observation.
    ui.go(f"/project/{project_a}/traces?level=ERROR")
    ui.wait("#traces")
    rows = ui.d.find_elements(By.CSS_SELECTOR, "#traces tbody tr")
    assert len(rows) == 1 and "chat-request" in rows[0].text, [r.text for r in rows]
    # Tags + environment + search.
    ui.go(f"/project/{project_a}/traces?tags=ui-test")
    assert [r.text.count("chat-request") for r in ui.d.find_elements(By.CSS_SELECTOR, "#traces tbody tr")] == [1]
    ui.go(f"/project/{project_a}/traces?env=staging")
    assert "batch-job" in ui.text() and "followup" not in ui.text()
    ui.go(f"/project/{project_a}/traces?q=follow")
    assert "followup" in ui.text() and "batch-job" not in ui.text()
    ui.go(f"/project/{project_a}/traces?q={TRACE3}")
    rows = ui.d.find_elements(By.CSS_SELECTOR, "#traces tbody tr")
    assert len(rows) == 1 and "batch-job" in rows[0].text
    # Sort by name ascending.
    ui.go(f"/project/{project_a}/traces?sort=name&dir=asc")
    names = [r.find_element(By.CSS_SELECTOR, "a.tracelink").text for r in ui.d.find_elements(By.CSS_SELECTOR, "#traces tbody tr")]
    assert names == sorted(names), names
    ui.shot("trace-list-sorted")
    check_console(ui, "trace list")


def test_live_list(ui, project_a):
    ui.go(f"/project/{project_a}/traces")
    ui.wait("#live-status")
    live_id = f"live-{RUN}"
    api("POST", "/api/public/ingestion", {"batch": [
        ev("trace-create", {"id": live_id, "name": "arrived-live", "timestamp": iso(datetime.now(timezone.utc))},
           datetime.now(timezone.utc))]})
    WebDriverWait(ui.d, 15).until(lambda d: "arrived-live" in d.find_element(By.ID, "traces").text)
    ui.shot("trace-list-live")
    check_console(ui, "live list")


def test_trace_detail(ui, project_a):
    ui.go(f"/project/{project_a}/traces/{TRACE}")
    ui.wait("#trace-title")
    tree = ui.d.find_element(By.CSS_SELECTOR, "ol.obs")
    rows = tree.find_elements(By.CSS_SELECTOR, "li.obsrow")
    # Trace row + 4 observations; nesting follows parentObservationId.
    depth = {r.text.split("\n")[0].strip(): r.get_attribute("data-depth") for r in rows[1:]}
    labels = " | ".join(depth)
    assert any("pipeline" in k and v == "0" for k, v in depth.items()), depth
    assert any("retrieve-docs" in k and v == "1" for k, v in depth.items()), depth
    assert any("llm-call" in k and v == "1" for k, v in depth.items()), depth
    assert any("guardrail-check" in k and v == "2" for k, v in depth.items()), depth
    assert "ERROR" in labels
    assert len(tree.find_elements(By.CSS_SELECTOR, "svg.timeline rect")) == 5
    assert len(tree.find_elements(By.CSS_SELECTOR, "line.ttft")) == 1
    body = ui.text()
    assert "Paris is the capital of France." in body
    assert "accuracy" in body
    assert "node / gpu metrics" in body.lower() and "gpu_utilization" in body, body
    infra = ui.d.find_element(By.ID, "infra")
    assert infra.find_elements(By.CSS_SELECTOR, "polyline"), "no GPU metric line"
    ui.shot("trace-detail", full=True)
    # Select the generation: chat messages are rendered role-labelled.
    link = [a for a in tree.find_elements(By.CSS_SELECTOR, "a.obslink") if "llm-call" in a.text][0]
    link.click()
    ui.wait("#obs-title")
    chat = ui.d.find_element(By.CSS_SELECTOR, "#obs-input .chat")
    msgs = chat.find_elements(By.CSS_SELECTOR, ".msg")
    assert [m.find_element(By.CSS_SELECTOR, ".role").text.lower() for m in msgs] == ["system", "user"]
    assert "What is the capital of France?" in msgs[1].text
    out = ui.d.find_element(By.CSS_SELECTOR, "#obs-output .msg.role-assistant")
    assert "Paris" in out.text
    body = ui.text()
    assert "gpt-4o" in body and "temperature" in body and "132" in body and "helpfulness" in body
    assert "time to first token" in body.lower() and "400ms" in body, body
    assert f"{PROMPT} v1" in body
    ui.shot("trace-generation", full=True)
    # JSON raw toggle works (JS).
    details = ui.d.find_element(By.CSS_SELECTOR, "#obs-input details.json")
    ui.d.execute_script("arguments[0].open = true", details)
    btn = details.find_element(By.CSS_SELECTOR, "button.toggle-raw")
    btn.click()
    assert details.find_element(By.CSS_SELECTOR, "pre.raw").is_displayed()
    assert not details.find_element(By.CSS_SELECTOR, "pre.pretty").is_displayed()
    ui.shot("trace-generation-raw-json")
    # Dark theme (prefers-color-scheme: dark).
    ui.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    bg = ui.d.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(15, 18, 22)", bg
    ui.shot("trace-generation-dark")
    ui.d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
    # The error observation shows its status message.
    ui.go(f"/project/{project_a}/traces/{TRACE}?observation={RUN}-guard")
    assert "blocked word list unavailable" in ui.text()
    check_console(ui, "trace detail")


def test_page_weight(ui, project_a):
    """Prints the gzip size of a trace list page, a trace view and the two assets."""
    import gzip
    cookie = "xtrace_session=" + ui.d.get_cookie("xtrace_session")["value"]
    sizes = {}
    for label, path in [("trace list", f"/project/{project_a}/traces"),
                        ("trace view", f"/project/{project_a}/traces/{TRACE}"),
                        ("app.js", "/ui/assets/app.js"), ("app.css", "/ui/assets/app.css")]:
        req = urllib.request.Request(BASE + path, headers={"Cookie": cookie})
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
        assert r.status == 200
        sizes[label] = (len(raw), len(gzip.compress(raw, 6)))
    total = sum(z for _, z in sizes.values())
    print("     page weight (bytes, raw/gzip): " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in sizes.items())
          + f"; trace view + assets gzip total {sizes['trace view'][1] + sizes['app.js'][1] + sizes['app.css'][1]}")
    assert total < 300_000


def test_media(ui, project_a):
    ui.go(f"/project/{project_a}/traces/{TRACE_IMG}")
    ui.wait("#trace-input .chat")
    img = ui.d.find_element(By.CSS_SELECTOR, "#trace-input img.inline")
    WebDriverWait(ui.d, 10).until(lambda d: d.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", img) == 24)
    assert "What is in this image?" in ui.text()
    ui.shot("trace-media")
    check_console(ui, "media")


def test_session(ui, project_a):
    ui.go(f"/project/{project_a}/sessions")
    ui.wait("#sessions")
    row = [r for r in ui.d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr") if SESSION in r.text][0]
    cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
    assert cells[2] == "2" and cells[3] == "alice" and cells[4] == "10.00s", cells
    ui.shot("sessions")
    ui.d.find_element(By.LINK_TEXT, SESSION).click()
    ui.wait("#conversation")
    turns = ui.d.find_elements(By.CSS_SELECTOR, "#conversation li.turn")
    assert len(turns) == 2
    assert "chat-request" in turns[0].text and "followup" in turns[1].text
    assert "And of Germany?" in turns[1].text and "Berlin." in turns[1].text
    ui.shot("session")
    check_console(ui, "session")


def test_scores(ui, project_a):
    ui.go(f"/project/{project_a}/scores")
    ui.wait("#scores")
    assert "accuracy" in ui.text() and "helpfulness" in ui.text()
    ui.go(f"/project/{project_a}/scores?name=accuracy")
    rows = ui.d.find_elements(By.CSS_SELECTOR, "#scores tbody tr")
    assert len(rows) == 1 and "0.9" in rows[0].text, [r.text for r in rows]
    ui.shot("scores")
    check_console(ui, "scores")


def test_dashboard(ui, project_a):
    ui.go(f"/project/{project_a}/dashboard?range=24h")
    ui.wait("#dashboard")
    figs = ui.d.find_elements(By.CSS_SELECTOR, "#dashboard figure.chart")
    assert len(figs) >= 6
    with_data = [f for f in figs if f.find_elements(By.CSS_SELECTOR, "polyline, rect.bar")]
    assert len(with_data) >= 6, [f.text for f in figs]
    text = ui.text()
    assert "gpt-4o" in text and "claude-3-haiku" in text and "alice" in text
    ui.shot("dashboard", full=True)
    check_console(ui, "dashboard")


def test_prompts(ui, project_a):
    ui.go(f"/project/{project_a}/prompts")
    ui.wait("#prompts")
    ui.d.find_element(By.LINK_TEXT, PROMPT).click()
    ui.wait("#prompt-content")
    content = ui.d.find_element(By.ID, "prompt-content").text
    assert "You answer {{topic}} questions." in content and "{{history}}" in content
    assert "production" in ui.text() and "first version" in ui.text()
    assert "llm-call" in ui.text()  # the generation that used v1
    ui.shot("prompt")
    check_console(ui, "prompts")


def test_datasets(ui, project_a):
    ui.go(f"/project/{project_a}/datasets")
    ui.wait("#datasets")
    ui.d.find_element(By.LINK_TEXT, DATASET).click()
    ui.wait("#runs")
    assert "capital of France?" in ui.text()
    for cb in ui.d.find_elements(By.CSS_SELECTOR, "#runs input[type=checkbox]"):
        cb.click()
    ui.shot("dataset")
    ui.d.find_element(By.ID, "compare").click()
    ui.wait("#run-items")
    head = ui.d.find_element(By.CSS_SELECTOR, "#run-items thead").text
    assert "run-1" in head and "run-2" in head
    body = ui.d.find_element(By.CSS_SELECTOR, "#run-items tbody").text
    assert "Paris is the capital of France." in body and "accuracy" in body
    ui.shot("dataset-compare")
    check_console(ui, "datasets")


def test_metrics(ui, project_a):
    ui.go(f"/project/{project_a}/metrics?name=gpu_utilization&group_by=node_id&range=15m")
    ui.wait("#metric-charts")
    lines = ui.d.find_elements(By.CSS_SELECTOR, "#metric-charts polyline")
    assert len(lines) == 2, len(lines)
    legend = ui.d.find_element(By.CSS_SELECTOR, "#metric-charts ul.legend").text
    assert "node_id=node-a" in legend and "node_id=node-b" in legend
    ui.shot("infra-metrics")
    check_console(ui, "metrics")


def test_isolation(ui, project_a, project_b):
    # Signed in to A: B's pages and B's trace do not exist.
    for path in [f"/project/{project_b}/traces", f"/project/{project_b}/traces/{B_TRACE}",
                 f"/project/{project_a}/traces/{B_TRACE}", f"/project/{project_b}/dashboard"]:
        ui.go(path)
        assert "Not found" in ui.text(), (path, ui.text()[:200])
        assert "project-b-only" not in ui.d.page_source and "mallory" not in ui.d.page_source
    ui.go(f"/project/{project_a}/traces?q={B_TRACE}")
    assert "project-b-only" not in ui.text()
    ui.go(f"/project/{project_a}/sessions")
    assert f"b-sess-{RUN}" not in ui.text()
    ui.go(f"/project/{project_a}/traces?user=mallory")
    assert ui.d.find_elements(By.ID, "no-traces")
    # The live endpoint is scoped as well.
    ui.go(f"/ui/live/project/{project_b}/traces?after=1970-01-01T00:00:00Z")
    assert "project-b-only" not in ui.d.page_source


def test_sign_out_and_keys_of_b(ui, project_a, project_b, key_b):
    ui.go(f"/project/{project_a}/traces")
    ui.sign_out()
    ui.go(f"/project/{project_a}/traces")
    ui.wait("#public_key")
    assert ui.path().startswith("/auth/sign-in"), ui.path()
    ui.go("/auth/sign-in")
    ui.sign_in_keys(key_b["publicKey"], key_b["secretKey"])
    ui.wait("#traces")
    assert ui.path() == f"/project/{project_b}/traces"
    assert "project-b-only" in ui.text() and "chat-request" not in ui.text()
    ui.go(f"/project/{project_a}/traces/{TRACE}")
    assert "Not found" in ui.text()
    ui.go(f"/ui/media/{MEDIA_ID}")
    assert "Not found" in ui.text(), "project A's media is not served to project B"
    ui.go(f"/project/{project_b}/traces")
    ui.sign_out()


def test_admin_switch(ui, project_a, project_b):
    ui.go("/auth/sign-in")
    ui.wait("#admin_token").send_keys(ADMIN)
    ui.d.find_element(By.ID, "sign-in").click()
    ui.wait("#traces")
    assert ui.path() == f"/project/{project_a}/traces"
    sel = ui.d.find_element(By.ID, "project-switch")
    from selenium.webdriver.support.ui import Select
    Select(sel).select_by_value(project_b)  # autosubmits (JS)
    WebDriverWait(ui.d, 10).until(lambda d: f"/project/{project_b}/traces" in d.current_url)
    assert "project-b-only" in ui.text()
    ui.shot("admin-project-b")
    ui.sign_out()
    check_console(ui, "admin")


def test_security_headers():
    req = urllib.request.Request(BASE + "/auth/sign-in")
    with urllib.request.urlopen(req, timeout=10) as r:
        h = r.headers
        assert "script-src 'self'" in h["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
        assert h["X-Frame-Options"] == "DENY"
        body = r.read().decode()
    assert "<script src=\"/ui/assets/app.js\"" in body and "<script>" not in body
    # A sign-in post without the CSRF cookie is refused.
    data = urllib.parse.urlencode({"csrf": "x", "public_key": PK, "secret_key": SK}).encode()
    try:
        urllib.request.urlopen(urllib.request.Request(BASE + "/auth/sign-in", data=data), timeout=10)
        raise AssertionError("sign-in without CSRF cookie succeeded")
    except urllib.error.HTTPError as e:
        assert e.code == 403, e.code


def main():
    os.makedirs(SHOTS, exist_ok=True)
    started = time.monotonic()
    project_b, key_b = seed()
    project_a = api("GET", "/api/public/projects")["data"][0]["id"]
    ui = UI()
    tests = [
        ("security headers and CSRF", lambda: test_security_headers()),
        ("deep link while signed out, sign in", lambda: test_deep_link_and_sign_in(ui, project_a)),
        ("trace list with filters", lambda: test_trace_list_filters(ui, project_a)),
        ("live trace list", lambda: test_live_list(ui, project_a)),
        ("trace detail", lambda: test_trace_detail(ui, project_a)),
        ("page weight", lambda: test_page_weight(ui, project_a)),
        ("media image in a chat message", lambda: test_media(ui, project_a)),
        ("session", lambda: test_session(ui, project_a)),
        ("scores", lambda: test_scores(ui, project_a)),
        ("dashboard", lambda: test_dashboard(ui, project_a)),
        ("prompts", lambda: test_prompts(ui, project_a)),
        ("datasets", lambda: test_datasets(ui, project_a)),
        ("infra metrics", lambda: test_metrics(ui, project_a)),
        ("cross-project isolation", lambda: test_isolation(ui, project_a, project_b)),
        ("sign out; project B's keys", lambda: test_sign_out_and_keys_of_b(ui, project_a, project_b, key_b)),
        ("admin token, project switch", lambda: test_admin_switch(ui, project_a, project_b)),
    ]
    failed = 0
    try:
        for name, fn in tests:
            try:
                fn()
                print(f"ok   {name}")
            except (AssertionError, TimeoutException, Exception):  # noqa: BLE001
                failed += 1
                print(f"FAIL {name}")
                traceback.print_exc()
                try:
                    ui.shot("FAILED-" + name.replace(" ", "-").replace(",", "").replace(";", "").replace("'", ""))
                except Exception:  # noqa: BLE001
                    pass
        if CONSOLE:
            failed += 1
            print("FAIL no browser console errors:")
            for where, errs in CONSOLE:
                for e in errs:
                    print(f"  [{where}] {e.get('message')}")
        else:
            print("ok   no browser console errors")
    finally:
        ui.d.quit()
    print(f"{len(tests) + 1 - failed} passed, {failed} failed in {time.monotonic() - started:.1f}s; screenshots in {SHOTS}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
