"""Fuzzing an API from its OpenAPI document with schemathesis, against a live gateway.

Each operation gets ``examples`` cases that fit the document (positive) and as many that do
not (negative), sent with a real key. Every answer must be below 500; a 4xx must come in the
surface's own error envelope; no body may hold a known secret. ``OMNIRELAY_FUZZ_EXAMPLES``
sets the count (``make fuzz`` raises it); ``OMNIRELAY_FUZZ_REPORT`` names a JSON file that
gets the figures of the run.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode

from omnirelay.api.surfaces import surface_of
from tests.support import envelopes

EXAMPLES = int(os.environ.get("OMNIRELAY_FUZZ_EXAMPLES", "12"))

# Rewrites a generated case before it is sent (pins what must stay loopback, say); may
# return False to skip the case (an operation that would lock the fuzzer out).
Adjust = Callable[[Any, Any], bool]


@dataclass
class Findings:
    sent: Counter[str] = field(default_factory=Counter)  # operation -> cases sent
    seconds: Counter[str] = field(default_factory=Counter)  # operation -> time spent
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)  # "operation status" -> n
    problems: list[str] = field(default_factory=list)
    refusals: dict[str, list[str]] = field(default_factory=dict)  # a few 4xx per operation

    def report(self, name: str) -> None:
        path = os.environ.get("OMNIRELAY_FUZZ_REPORT")
        if not path:
            return
        try:
            with open(path, encoding="utf-8") as handle:
                everything = json.load(handle)
        except (OSError, ValueError):
            everything = {}
        everything[name] = {
            "cases": sum(self.sent.values()),
            "operations": len(self.sent),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "slowest": {k: round(v, 1) for k, v in self.seconds.most_common(8)},
            "by_operation": dict(sorted(self.by_operation.items())),
            "problems": self.problems[:50],
            "refusals": self.refusals,
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(everything, handle, indent=1)


def check_answer(
    path: str, response: requests.Response, secrets: Iterable[str], label: str
) -> str | None:
    """What is wrong with one answer, or None."""
    body = response.content
    for secret in secrets:
        if secret and secret.encode() in body:
            return f"{label}: a secret ({secret[:6]}…) in the body"
    if response.status_code >= 500:
        return f"{label}: HTTP {response.status_code}: {body[:300]!r}"
    if 400 <= response.status_code < 500:
        surface = surface_of(path).name
        try:
            document = json.loads(body)
        except ValueError:
            return f"{label}: HTTP {response.status_code} without JSON: {body[:200]!r}"
        if not envelopes.BY_SURFACE[surface](document):
            return f"{label}: HTTP {response.status_code} not in the {surface} envelope: {body[:200]!r}"
    return None


def fuzz(
    document: dict[str, Any],
    *,
    base_url: str,
    headers: dict[str, str],
    secrets: Iterable[str],
    adjust: Adjust | None = None,
    examples: int = EXAMPLES,
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
) -> Findings:
    """Run every operation of ``document``; the findings (problems are not raised here)."""
    schema = schemathesis.openapi.from_dict(document)
    findings = Findings()
    known = [s for s in secrets if s]
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:
            label = f"{operation.method.upper()} {operation.path} ({mode.value})"
            _run(
                operation,
                mode,
                label,
                base_url,
                headers,
                known,
                adjust,
                examples,
                findings,
                session,
            )
    session.close()
    return findings


def _run(
    operation: Any,
    mode: GenerationMode,
    label: str,
    base_url: str,
    headers: dict[str, str],
    secrets: list[str],
    adjust: Adjust | None,
    examples: int,
    findings: Findings,
    session: requests.Session,
) -> None:
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run: a failure reproduces
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        if adjust is not None and not adjust(case, data):
            return
        started = time.monotonic()
        response = case.call(base_url=base_url, headers=headers, session=session, timeout=60)
        findings.seconds[label] += time.monotonic() - started
        findings.sent[label] += 1
        findings.statuses[response.status_code] += 1
        findings.by_operation[f"{label} {response.status_code}"] += 1
        path = response.request.path_url.split("?", 1)[0] if response.request.path_url else ""
        if 400 <= response.status_code < 500:
            seen = findings.refusals.setdefault(label, [])
            if len(seen) < 4:
                seen.append(f"{response.status_code} {response.text[:240]}")
        problem = check_answer(path, response, secrets, f"{label} as {path[:120]}")
        if problem is not None and len(findings.problems) < 200:
            findings.problems.append(problem)

    run()
