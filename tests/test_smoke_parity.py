"""Backend parity: the same scripted answers through the llama.cpp session (a scripted
`Llama` behind the child's `LlamaSession`) and through the endpoint backend (a scripted HTTP
server on 127.0.0.1) give the same verdict for every probe and the same suite verdict.

The driver is one piece of code, so this tests the two adapters: how each turns a prompt
request into an answer, a finish reason, tool calls and refusals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from endpoint_fault_server import fault_server
from support.scripted import RIGHT, answer_for

from selector.smoke.child import LlamaSession
from selector.smoke.endpoint import EndpointBackend
from selector.smoke.interface import ProbeOutcome, SmokeSettings, SmokeStatus
from selector.smoke.probes import SuitePlan
from selector.smoke.suite import run_probes
from selector.smoke.verdict import summarize
from selector.vocab import Tuning

N_CTX = 4096


class ScriptedLlama:
    """Stands in for `llama_cpp.Llama` inside LlamaSession: the same replies as the server."""

    def __init__(
        self,
        script: Mapping[str, str],
        *,
        cut: tuple[str, ...] = (),
        reject: str | None = None,
    ) -> None:
        self.script, self.cut, self.reject = script, cut, reject

    def n_ctx(self) -> int:
        return N_CTX

    def _reply(self, asked: str, everything: str) -> tuple[str, str]:
        if self.reject and self.reject in everything:
            raise ValueError("Requested tokens (5000) exceed context window of 4096")
        finish = "length" if any(n in asked for n in self.cut) else "stop"
        return answer_for(asked, self.script, "Hello from the fake server"), finish

    def create_chat_completion(self, *, messages: list[dict[str, Any]], **kw: Any) -> Any:
        asked = str(messages[-1].get("content") or "")
        text, finish = self._reply(asked, str(messages))
        return {
            "choices": [
                {"message": {"role": "assistant", "content": text}, "finish_reason": finish}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        }

    def create_completion(self, prompt: str, **kw: Any) -> Any:
        text, finish = self._reply(prompt, prompt)
        return {
            "choices": [{"text": text, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5},
        }


# wrong answers, an answer cut off inside <think>, and structured-output in fenced JSON
MIXED = {
    **RIGHT,
    "access code for the storage room?": "<think>The notes say the code is 4817, so",
    "word hello three times": "hello, hello, hello",
    "time is it in Tokyo": "It is probably evening in Tokyo.",
    "Lisbon is the capital": '```json\n{"city": "Lisbon", "country": "Portugal"}\n```',
    "JD014600003GB": "It is on its way.",
    "12 pens": "12 * 7 = 84, and 84 - 5 =",
}
CUT = ("access code for the storage room?", "12 pens")


def local(script: Mapping[str, str], settings: SmokeSettings, tuning: Tuning, **kw: Any) -> Any:
    outcomes = run_probes(LlamaSession(ScriptedLlama(script, **kw)), settings, tuning)
    return outcomes, summarize(outcomes, settings)


def served(script: Mapping[str, str], settings: SmokeSettings, tuning: Tuning, **kw: Any) -> Any:
    with fault_server("ok", answers=dict(script), **kw) as server:
        backend = EndpointBackend(server.base_url, "fake-model", tuning=tuning, timeout_s=5)
        result = backend.run(settings)
    return result.probes, result


def verdicts(outcomes: list[ProbeOutcome]) -> list[tuple[str, str, bool]]:
    return [(o.id, o.status, o.passed) for o in outcomes]


SETTINGS = SmokeSettings(timeout_s=60, suite=SuitePlan(context_tokens=N_CTX))


@pytest.mark.parametrize("tuning", [Tuning.INSTRUCT, Tuning.BASE])
def test_right_answers_pass_alike(tuning: Tuning) -> None:
    here, here_summary = local(RIGHT, SETTINGS, tuning)
    there, there_result = served(RIGHT, SETTINGS, tuning)
    assert verdicts(here) == verdicts(there)
    assert here_summary.status is there_result.status
    assert here_summary.capabilities == there_result.capabilities
    if tuning is Tuning.INSTRUCT:
        assert there_result.status is SmokeStatus.PASSED, there_result.reason


def test_mixed_answers_cut_offs_and_a_refused_prompt_get_identical_verdicts() -> None:
    here, here_summary = local(MIXED, SETTINGS, Tuning.INSTRUCT, cut=CUT, reject="Ines Duarte")
    there, there_result = served(
        MIXED, SETTINGS, Tuning.INSTRUCT, finish_length=CUT, reject_needle="Ines Duarte"
    )
    assert verdicts(here) == verdicts(there)
    statuses = {o.id: o.status for o in here}
    # the two divergences of issue 11, now one rule on both backends
    assert statuses["recall-access-code"] == "truncated"  # cut off inside <think>
    assert statuses["person-nested"] == "error"  # refused prompt: left out of the rates
    assert statuses["pens-arithmetic"] == "truncated"
    assert statuses["repeat-uppercase"] == statuses["tool-time"] == "failed"
    assert statuses["agent-order-status"] == "failed"
    assert here_summary.status is there_result.status is SmokeStatus.PASSED
    assert here_summary.capabilities == there_result.capabilities
    assert here_summary.capabilities["structured-output"].total == 4
    assert there_result.probes_passed == here_summary.probes_passed


def test_all_wrong_fails_alike_naming_the_same_capabilities() -> None:
    settings = SmokeSettings(timeout_s=60, suite=SuitePlan(capabilities=("tool-calling",)))
    here, here_summary = local({}, settings, Tuning.INSTRUCT)
    there, there_result = served({}, settings, Tuning.INSTRUCT)
    assert verdicts(here) == verdicts(there)
    assert here_summary.status is there_result.status is SmokeStatus.FAILED
    assert there_result.reason.startswith(here_summary.reason)
