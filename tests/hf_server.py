#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub, for tests/test_hf_hub.c. Standard library only.

It implements the part of the hub's contract that clients rely on:
  HEAD/GET /{org}/{name}/resolve/{revision}/{path}
    - revision: "main" or the repo's commit hash; anything else: 404 X-Error-Code RevisionNotFound
    - every answer carries X-Repo-Commit
    - a regular (git) file: 200 with ETag "<git blob sha1>", Content-Length, Range support (206)
    - an LFS file (*.safetensors): 302 to the CDN with X-Linked-Etag "<sha256>", X-Linked-Size,
      and a weak ETag of its own (which clients must not use)
    - a missing file: 404 X-Error-Code EntryNotFound; an unknown repo: 404 RepoNotFound
  GET/HEAD /cdn/<sha256> on a second port (another origin, like the real CDN): the LFS content,
  with Range support (206, 416).

Repos: mmrt-test/tiny (single model.safetensors), mmrt-test/sharded (index + two shards, one in
a sub-folder), mmrt-test/gated (401 GatedRepo unless "Authorization: Bearer <--token>"),
mmrt-test/badsha (LFS content that does not match its sha256), mmrt-test/no-tokenizer,
mmrt-test/evil-index (an index naming "../" paths), mmrt-test/renamed (307 relative redirect to
mmrt-test/tiny, as the hub does for renamed repos).

Test knobs: --cut-after N --cut-times K (the next K CDN GETs send only N body bytes, then drop
the connection), --ignore-range (the CDN answers Range requests with the whole file, 200),
--no-size (LFS redirects carry no X-Linked-Size, so the client does not know the size).
Every request is appended to --log-file as "PORT METHOD PATH range=<Range|-> auth=<Authorization|->".
--manifest-file receives what a client should end up with: per repo its commit and per file
{"etag", "size", "lfs", "content_sha256"}. The hub's port is written to --port-file (atomically)
once both ports listen and the manifest is written.
"""
import argparse
import hashlib
import http.server
import json
import os
import signal
import struct
import sys
import threading
import urllib.parse


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def fake_safetensors(seed, n_floats):
    """A small safetensors file: 8-byte header length, JSON header, then F32 data."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]}},
                        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    data = bytes((i * 7 + seed) % 251 for i in range(4 * n_floats))
    return struct.pack("<Q", len(header)) + header + data


def json_bytes(obj):
    return (json.dumps(obj, indent=2) + "\n").encode()


def make_repos():
    config = json_bytes({"architectures": ["LlamaForCausalLM"], "hidden_size": 64, "model_type": "llama"})
    tokenizer = json_bytes({"version": "1.0", "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})
    tok_config = json_bytes({"bos_token": "<s>", "eos_token": "</s>"})
    gen_config = json_bytes({"eos_token_id": 2, "max_new_tokens": 16})
    weights = fake_safetensors(1, 50000)  # ~200 kB: several chunks, so a cut is mid-file
    base = {
        "config.json": config,
        "tokenizer.json": tokenizer,
        "tokenizer_config.json": tok_config,
        "generation_config.json": gen_config,
        "model.safetensors": weights,
    }
    shard1, shard2 = fake_safetensors(3, 3000), fake_safetensors(5, 2000)
    index = json_bytes({
        "metadata": {"total_size": len(shard1) + len(shard2)},
        "weight_map": {
            "a.weight": "model-00001-of-00002.safetensors",
            "b.weight": "weights/model-00002-of-00002.safetensors",
            "c.weight": "model-00001-of-00002.safetensors",
        },
    })
    evil = json_bytes({"weight_map": {"a.weight": "../../../../escape.safetensors"}})
    repos = {
        "mmrt-test/tiny": dict(base),
        "mmrt-test/gated": dict(base),
        "mmrt-test/badsha": dict(base),
        "mmrt-test/sharded": {
            "config.json": config,
            "tokenizer.json": tokenizer,
            "model.safetensors.index.json": index,
            "model-00001-of-00002.safetensors": shard1,
            "weights/model-00002-of-00002.safetensors": shard2,
        },
        "mmrt-test/no-tokenizer": {"config.json": config, "model.safetensors": weights},
        "mmrt-test/evil-index": {"config.json": config, "tokenizer.json": tokenizer,
                                 "model.safetensors.index.json": evil},
    }
    table = {}
    for name, files in repos.items():
        commit = hashlib.sha1(name.encode()).hexdigest()
        entries = {}
        for path, data in files.items():
            lfs = path.endswith(".safetensors")
            sha = hashlib.sha256(data).hexdigest()
            if name == "mmrt-test/badsha" and lfs:
                sha = hashlib.sha256(b"something else").hexdigest()
            entries[path] = {"data": data, "lfs": lfs, "sha256": sha, "git": git_sha1(data)}
        table[name] = {"commit": commit, "files": entries}
    return table


class State:
    def __init__(self, args):
        self.args = args
        self.repos = make_repos()
        self.cdn = {}  # sha256 -> data (the badsha blob is served under its wrong name)
        for repo in self.repos.values():
            for e in repo["files"].values():
                if e["lfs"]:
                    self.cdn[e["sha256"]] = e["data"]
        self.cuts_left = args.cut_times
        self.lock = threading.Lock()
        self.cdn_port = 0
        self.log = open(args.log_file, "a", buffering=1) if args.log_file else None

    def record(self, port_name, handler):
        if not self.log:
            return
        with self.lock:
            self.log.write("%s %s %s range=%s auth=%s\n" % (
                port_name, handler.command, handler.path,
                handler.headers.get("Range", "-"), handler.headers.get("Authorization", "-")))


def parse_range(header, size):
    """'bytes=N-' or 'bytes=N-M' -> (start, end inclusive), None if absent, 'bad' if unsatisfiable."""
    if not header or not header.startswith("bytes="):
        return None
    first, _, last = header[6:].partition("-")
    try:
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return "bad"
    return start, min(end, size - 1)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None  # set per server
    port_name = ""

    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, code, headers=(), body=b""):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.handle_any()

    def do_GET(self):
        self.handle_any()

    def handle_any(self):
        self.state.record(self.port_name, self)
        if self.port_name == "cdn":
            self.serve_cdn()
        else:
            self.serve_hub()

    def serve_content(self, data, extra, allow_range=True, cut=None):
        size = len(data)
        rng = parse_range(self.headers.get("Range"), size) if allow_range else None
        if rng == "bad":
            self.reply(416, extra + [("Content-Range", "bytes */%d" % size)])
            return
        if rng is None:
            code, start, end, headers = 200, 0, size - 1, list(extra)
        else:
            start, end = rng
            code, headers = 206, extra + [("Content-Range", "bytes %d-%d/%d" % (start, end, size))]
        body = data[start:end + 1]
        self.send_response(code)
        for k, v in headers + [("Accept-Ranges", "bytes")]:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut is not None and cut < len(body):
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def serve_cdn(self):
        path = urllib.parse.urlsplit(self.path).path
        sha = path[len("/cdn/"):] if path.startswith("/cdn/") else ""
        data = self.state.cdn.get(sha)
        if data is None:
            self.reply(404, body=b"no such object\n")
            return
        cut = None
        if self.command == "GET":
            with self.state.lock:
                if self.state.cuts_left > 0:
                    self.state.cuts_left -= 1
                    cut = self.state.args.cut_after
        self.serve_content(data, [("Content-Type", "application/octet-stream")],
                           allow_range=not self.state.args.ignore_range, cut=cut)

    def serve_hub(self):
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        # ['', org, name, 'resolve', revision, *path]
        if len(parts) < 6 or parts[3] != "resolve":
            self.reply(404, body=b"not found\n")
            return
        repo_id = parts[1] + "/" + parts[2]
        revision = urllib.parse.unquote(parts[4])
        file_path = urllib.parse.unquote("/".join(parts[5:]))
        if repo_id == "mmrt-test/renamed":
            target = "/mmrt-test/tiny/" + "/".join(parts[3:])
            self.reply(307, [("Location", target)], b"Temporary Redirect. Redirecting to " + target.encode())
            return
        repo = self.state.repos.get(repo_id)
        if repo is None:
            self.reply(404, [("X-Error-Code", "RepoNotFound"), ("X-Error-Message", "Repository not found")],
                       b"Repository not found\n")
            return
        if repo_id == "mmrt-test/gated":
            want = "Bearer " + (self.state.args.token or "")
            if not self.state.args.token or self.headers.get("Authorization") != want:
                self.reply(401, [("X-Error-Code", "GatedRepo"),
                                 ("X-Error-Message", "Access to model %s is restricted." % repo_id)],
                           b"Access restricted\n")
                return
        commit = repo["commit"]
        if revision not in ("main", commit):
            self.reply(404, [("X-Error-Code", "RevisionNotFound"), ("X-Error-Message", "Invalid rev id")],
                       b"Invalid rev id\n")
            return
        common = [("X-Repo-Commit", commit)]
        entry = repo["files"].get(file_path)
        if entry is None:
            self.reply(404, common + [("X-Error-Code", "EntryNotFound"),
                                      ("X-Error-Message", "Entry not found")], b"Entry not found\n")
            return
        if entry["lfs"]:
            location = "http://127.0.0.1:%d/cdn/%s?X-Amz-Signature=abc" % (self.state.cdn_port, entry["sha256"])
            body = b"Found. Redirecting to " + location.encode()
            headers = [("Location", location), ("ETag", 'W/"%s"' % entry["git"]),
                       ("X-Linked-Etag", '"%s"' % entry["sha256"])]
            if not self.state.args.no_size:
                headers.append(("X-Linked-Size", str(len(entry["data"]))))
            self.reply(302, common + headers, body)
            return
        self.serve_content(entry["data"], common + [("ETag", '"%s"' % entry["git"]),
                                                    ("Content-Type", "application/json")])


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # clients drop connections on purpose (aborted or cut downloads): not worth a traceback
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def serve(state, port_name):
    handler = type("H_" + port_name, (Handler,), {"state": state, "port_name": port_name})
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log-file")
    ap.add_argument("--manifest-file")
    ap.add_argument("--token", help="the token that opens mmrt-test/gated")
    ap.add_argument("--cut-after", type=int, default=0)
    ap.add_argument("--cut-times", type=int, default=0)
    ap.add_argument("--ignore-range", action="store_true")
    ap.add_argument("--no-size", action="store_true", help="LFS redirects without X-Linked-Size")
    args = ap.parse_args()
    state = State(args)
    cdn = serve(state, "cdn")
    state.cdn_port = cdn.server_address[1]
    hub = serve(state, "hub")
    if args.manifest_file:
        manifest = {name: {"commit": repo["commit"],
                           "files": {path: {"etag": e["sha256"] if e["lfs"] else e["git"],
                                            "size": len(e["data"]), "lfs": e["lfs"],
                                            "content_sha256": hashlib.sha256(e["data"]).hexdigest()}
                                     for path, e in repo["files"].items()}}
                    for name, repo in state.repos.items()}
        with open(args.manifest_file, "w") as f:
            json.dump(manifest, f, indent=1)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % hub.server_address[1])
    os.replace(tmp, args.port_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        if os.getppid() == 1:  # the test that started us is gone
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
