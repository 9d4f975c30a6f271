"""Groq's Batch API for tests/groq_server.py: file uploads, batch jobs, their output files.

* ``POST /openai/v1/files`` (multipart: ``file``, ``purpose=batch``) -> a file object.
* ``POST /openai/v1/batches`` (``input_file_id``, ``endpoint``, ``completion_window``) -> a batch.
* ``GET /openai/v1/batches/ID`` -> the batch: ``validating``, ``in_progress``, then ``completed``
  with ``output_file_id`` (and ``error_file_id`` when some requests failed).
* ``GET /openai/v1/files/ID/content`` -> the file's bytes.

A job runs each line of its input file as a real request to the server's own chat endpoint, so
every :class:`Behavior` applies and every request is recorded. ``hold()`` keeps new jobs
``in_progress`` until ``release()``, for tests that stop and resume a run. Standard library only.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any


class BatchApi:
    """The files and batch jobs of one fake server; thread-safe."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix  # "/openai/v1"
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.inputs: dict[str, list[dict[str, Any]]] = {}
        """Each batch's input lines, parsed, by batch id."""
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._released.set()
        self.base_url = ""

    def hold(self) -> None:
        """Keep jobs created from now on ``in_progress`` until :meth:`release`."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def handles(self, path: str) -> bool:
        return path.startswith((f"{self.prefix}/files", f"{self.prefix}/batches"))

    # -- HTTP ---------------------------------------------------------------------------------

    def serve(self, handler: Any, method: str, path: str, raw: bytes) -> None:
        """Answer one request on ``handler`` (a groq_server ``_Handler``, already authorised)."""
        parts = path.removeprefix(self.prefix).strip("/").split("/")
        if method == "POST" and parts == ["files"]:
            return self._upload(handler, raw)
        if method == "POST" and parts == ["batches"]:
            return self._create(handler, raw)
        if method == "GET" and len(parts) == 2 and parts[0] == "batches":
            with self._lock:
                batch = self.batches.get(parts[1])
                return self._found(handler, batch and dict(batch), "batch")
        if method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            with self._lock:
                found = self.files.get(parts[1])
            if found is None:
                return self._found(handler, None, "file")
            handler.send_response(200)
            handler.send_header("Content-Type", "application/octet-stream")
            handler.send_header("Content-Length", str(len(found["content"])))
            handler.end_headers()
            handler.wfile.write(found["content"])
            return None
        return handler._unknown_url(method)

    def _found(self, handler: Any, payload: dict[str, Any] | None, what: str) -> None:
        if payload is None:
            error = {"error": {"message": f"{what} not found", "type": "invalid_request_error", "code": "not_found"}}
            return handler._send_json(404, error)
        return handler._send_json(200, payload)

    def _upload(self, handler: Any, raw: bytes) -> None:
        head = f"Content-Type: {handler.headers.get('Content-Type', '')}\r\n\r\n".encode()
        form = BytesParser(policy=HTTP).parsebytes(head + raw)
        fields = {
            part.get_param("name", header="content-disposition"): part
            for part in (form.iter_parts() if form.is_multipart() else [])
        }
        if "file" not in fields or "purpose" not in fields:
            return handler._send_json(400, {"error": {"message": "file and purpose are required", "type": "invalid_request_error"}})
        name = fields["file"].get_filename() or "upload.jsonl"
        record = self._add_file(fields["file"].get_payload(decode=True) or b"", name, "batch")
        return handler._send_json(200, _public(record))

    def _create(self, handler: Any, raw: bytes) -> None:
        body = json.loads(raw or b"{}")
        with self._lock:
            source = self.files.get(body.get("input_file_id", ""))
        if source is None:
            return handler._send_json(400, {"error": {"message": "input file not found", "type": "invalid_request_error"}})
        lines = [json.loads(line) for line in source["content"].decode().splitlines() if line.strip()]
        batch = {
            "id": "batch_" + uuid.uuid4().hex[:24],
            "object": "batch",
            "endpoint": body.get("endpoint"),
            "input_file_id": source["id"],
            "completion_window": body.get("completion_window"),
            "status": "validating",
            "created_at": int(time.time()),
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
        }
        with self._lock:
            self.batches[batch["id"]] = batch
            self.inputs[batch["id"]] = lines
        key = handler.headers.get("Authorization", "")
        threading.Thread(target=self._run, args=(batch["id"], lines, key), daemon=True).start()
        return handler._send_json(200, batch)

    # -- jobs ---------------------------------------------------------------------------------

    def _add_file(self, content: bytes, name: str, purpose: str) -> dict[str, Any]:
        record = {
            "id": "file_" + uuid.uuid4().hex[:24], "object": "file", "bytes": len(content),
            "created_at": int(time.time()), "filename": name, "purpose": purpose, "content": content,
        }
        with self._lock:
            self.files[record["id"]] = record
        return record

    def _run(self, batch_id: str, lines: list[dict[str, Any]], key: str) -> None:
        self._set(batch_id, status="in_progress", in_progress_at=int(time.time()))
        self._released.wait()
        done, failed = [], []
        for line in lines:
            status, body = self._ask(line.get("body") or {}, key)
            entry = {
                "id": "batch_req_" + uuid.uuid4().hex[:24],
                "custom_id": line.get("custom_id"),
                "response": {"status_code": status, "request_id": "req_" + uuid.uuid4().hex[:24], "body": body},
                "error": None,
            }
            (done if status == 200 else failed).append(entry)
        output = self._add_file(_jsonl(done), f"{batch_id}_output.jsonl", "batch_output")
        update: dict[str, Any] = {"status": "completed", "completed_at": int(time.time()), "output_file_id": output["id"]}
        if failed:
            update["error_file_id"] = self._add_file(_jsonl(failed), f"{batch_id}_error.jsonl", "batch_output")["id"]
        update["request_counts"] = {"total": len(lines), "completed": len(done), "failed": len(failed)}
        self._set(batch_id, **update)

    def _ask(self, body: dict[str, Any], key: str) -> tuple[int, Any]:
        request = urllib.request.Request(
            f"{self.base_url}{self.prefix}/chat/completions",
            data=json.dumps({**body, "stream": False}).encode(),
            headers={"Content-Type": "application/json", "Authorization": key},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def _set(self, batch_id: str, **values: Any) -> None:
        with self._lock:
            self.batches[batch_id].update(values)


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "content"}


def _jsonl(entries: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(entry) + "\n" for entry in entries).encode()
