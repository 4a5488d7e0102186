"""The suite driver on a scripted session: prompts, tools and agent turns, thinking, budgets,
errored and truncated probes, long-context sizing, repeats, and the verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.scripted import RIGHT, ScriptedSession, last_text, refuse_when

from selector.smoke.interface import ProbeOutcome, SmokeSettings, SmokeStatus
from selector.smoke.probes import BUILTIN_CAPABILITIES, SuitePlan, builtin_probes
from selector.smoke.session import Generation, PromptRefused, PromptRequest, ToolsRefused
from selector.smoke.stats import CAPABILITY_PASS_RATE, failing_capabilities, rate, wilson
from selector.smoke.suite import SuiteDriver, run_probes, split_reasoning
from selector.smoke.verdict import summarize
from selector.vocab import Tuning


def settings(**kw: Any) -> SmokeSettings:
    return SmokeSettings(**kw)


def only(*capabilities: str, **kw: Any) -> SmokeSettings:
    return SmokeSettings(suite=SuitePlan(capabilities=capabilities), **kw)


def by_id(outcomes: list[ProbeOutcome]) -> dict[str, ProbeOutcome]:
    return {o.id: o for o in outcomes}


def test_right_answers_pass_every_probe_of_every_capability() -> None:
    s = settings()
    outcomes = run_probes(ScriptedSession(context_limit=4096), s, Tuning.INSTRUCT)
    failed = [(o.id, o.output, o.detail) for o in outcomes if not o.passed]
    assert not failed
    summary = summarize(outcomes, s)
    assert summary.status is SmokeStatus.PASSED, summary.reason
    assert list(summary.capabilities) == list(BUILTIN_CAPABILITIES)
    assert all(r.rate == 1.0 for r in summary.capabilities.values())
    assert summary.probes_total == summary.probes_passed == len(builtin_probes())
    assert summary.suite_digest.startswith("2-")


def test_wrong_answers_fail_naming_the_capabilities() -> None:
    s = only("instruction-following", "structured-output")
    outcomes = run_probes(ScriptedSession({}), s, Tuning.INSTRUCT)
    summary = summarize(outcomes, s)
    assert summary.status is SmokeStatus.FAILED
    assert summary.reason.startswith("failed instruction-following 0/6, structured-output 0/5")
    assert all(o.status == "failed" for o in outcomes)


def test_agent_loop_sends_the_tool_result_and_judges_the_final_answer() -> None:
    session = ScriptedSession()
    outcome = by_id(run_probes(session, only("tool-calling"), Tuning.INSTRUCT))[
        "agent-order-status"
    ]
    assert outcome.passed, outcome.detail
    assert "2025-03-14" in outcome.output and "[tool result sent]" in outcome.output
    followup = next(r for r in session.requests if r.messages[-1].get("role") == "tool")
    assert json.loads(followup.messages[-1]["content"])["tracking_number"] == "JD014600003GB"
    assert followup.messages[-2]["role"] == "assistant"
    assert "get_order_status" in followup.messages[-2]["content"]  # what the model wrote
    assert followup.tools  # the tools stay available in the second turn


def test_agent_loop_fails_when_the_final_answer_ignores_the_result() -> None:
    script = {**RIGHT, "JD014600003GB": "Your order will arrive soon."}
    outcome = by_id(run_probes(ScriptedSession(script), only("tool-calling"), Tuning.INSTRUCT))[
        "agent-order-status"
    ]
    assert not outcome.passed
    assert outcome.detail.startswith("call: ") and "final answer: " in outcome.detail


def test_a_template_refusing_the_tool_role_gets_the_result_as_text() -> None:
    def reply(request: PromptRequest) -> Any:
        if any(m.get("role") == "tool" for m in request.messages):
            return PromptRefused("Conversation roles must alternate user/assistant")
        return None

    session = ScriptedSession(reply=reply)
    outcome = by_id(run_probes(session, only("tool-calling"), Tuning.INSTRUCT))["agent-inventory"]
    assert outcome.passed, outcome.detail
    assert "sent as text" in outcome.detail
    last = session.requests[-1]
    assert last.messages[-1]["role"] == "user" and "check_inventory returned" in str(
        last.messages[-1]["content"]
    )


def test_tools_ignored_then_described_in_the_prompt() -> None:
    def reply(request: PromptRequest) -> Any:
        described = "You can call these functions" in last_text(request)
        return None if described else "I would check the weather service."

    session = ScriptedSession(reply=reply)
    outcomes = by_id(run_probes(session, only("tool-calling"), Tuning.INSTRUCT))
    weather = outcomes["tool-weather"]
    assert weather.passed
    assert weather.detail.startswith("no tool call came back through `tools`; prompt-based")
    # a probe that expects no call is not asked twice
    asked = [r for r in session.requests if "colleague Sam" in last_text(r)]
    assert len(asked) == 1


def test_tools_refused_by_the_backend_fall_back_and_say_why() -> None:
    def reply(request: PromptRequest) -> Any:
        return (
            ToolsRefused("server rejected `tools` (HTTP 400: no tools)") if request.tools else None
        )

    outcome = by_id(
        run_probes(ScriptedSession(reply=reply), only("tool-calling"), Tuning.INSTRUCT)
    )["tool-time"]
    assert outcome.passed
    assert outcome.detail.startswith("server rejected `tools` (HTTP 400: no tools)")


def test_structured_tool_calls_are_judged_and_answered_in_kind() -> None:
    from selector.smoke.checkers import ToolCall

    def reply(request: PromptRequest) -> Any:
        if "my order 8812" in last_text(request) and request.tools:
            call = ToolCall("get_order_status", {"order_id": "8812"})
            return Generation(text="", tool_calls=(call,), finish_reason="tool_calls")
        return None

    session = ScriptedSession(reply=reply)
    outcome = by_id(run_probes(session, only("tool-calling"), Tuning.INSTRUCT))[
        "agent-order-status"
    ]
    assert outcome.passed, outcome.detail
    assert "structured tool call via `tools`" in outcome.detail
    followup = next(r for r in session.requests if r.messages[-1].get("role") == "tool")
    call = followup.messages[-2]["tool_calls"][0]
    assert call["function"]["name"] == "get_order_status"
    assert json.loads(call["function"]["arguments"]) == {"order_id": "8812"}


def test_closed_think_blocks_are_set_aside() -> None:
    script = {k: f"<think>Let me see. 4817? No.</think>\n{v}" for k, v in RIGHT.items()}
    outcomes = run_probes(ScriptedSession(script), only("structured-output"), Tuning.INSTRUCT)
    assert all(o.passed for o in outcomes), [o.detail for o in outcomes]


def test_cut_off_inside_think_is_truncated_not_passed_even_with_the_answer_in_it() -> None:
    """The reasoning cut-off divergence: llama.cpp passed this (it searched the unclosed think
    block), the endpoint failed it. One rule now: an answer inside unfinished thinking is not
    an answer; the probe is `truncated` (the budget ran out), never `failed` or `passed`."""

    def reply(request: PromptRequest) -> Any:
        return Generation(text="<think>The code is 4817, so the answer", finish_reason="length")

    s = only("long-context", reasoning_tokens=0)
    outcomes = run_probes(ScriptedSession(reply=reply, context_limit=2048), s, Tuning.INSTRUCT)
    assert {o.status for o in outcomes} == {"truncated"}
    assert "while reasoning" in outcomes[0].detail
    assert not any(o.passed for o in outcomes)


def test_reasoning_field_only_is_truncated_while_reasoning() -> None:
    def reply(request: PromptRequest) -> Any:
        return Generation(text="", reasoning="Hmm, HELLO three times...", finish_reason="length")

    s = only("instruction-following", reasoning_tokens=0)
    outcome = run_probes(ScriptedSession(reply=reply), s, Tuning.INSTRUCT)[0]
    assert outcome.status == "truncated" and "while reasoning" in outcome.detail
    assert outcome.output.startswith("(reasoning only:")


def test_a_reasoning_model_gets_the_reasoning_allowance_and_a_rerun() -> None:
    def reply(request: PromptRequest) -> Any:
        if request.max_tokens < 500:
            return Generation(text="<think>Let me count the HELLOs", finish_reason="length")
        return Generation(text="<think>three</think>HELLO, HELLO, HELLO", finish_reason="stop")

    session = ScriptedSession(reply=reply)
    s = only("instruction-following", reasoning_tokens=1024)
    outcomes = run_probes(session, s, Tuning.INSTRUCT)
    first = outcomes[0]
    assert first.passed, first.detail
    assert "reasons before answering: asked again with 1056 tokens" in first.detail
    assert [r.max_tokens for r in session.requests[:2]] == [32, 32 + 1024]
    # every later probe is asked with the allowance from the start
    assert all(r.max_tokens > 1024 for r in session.requests[2:])


def test_truncated_wrong_answer_is_truncated_and_a_right_one_passes() -> None:
    s = only("structured-output")
    cut = run_probes(ScriptedSession({}, finish_reason="length"), s, Tuning.INSTRUCT)
    assert {o.status for o in cut} == {"truncated"}
    assert "cut off at the" in cut[0].detail
    full = run_probes(ScriptedSession(finish_reason="length"), s, Tuning.INSTRUCT)
    assert {o.status for o in full} == {"passed"}
    summary = summarize(cut, s)
    assert summary.status is SmokeStatus.FAILED and "5 truncated" in summary.reason


def test_an_errored_probe_is_left_out_of_the_rates_and_the_rest_decide() -> None:
    """The errored-probe divergence: with one probe refused and the others right, the llama.cpp
    backend said `failed` (the refusal counted against the model) and the endpoint `passed`
    (counted as a wrong answer). One rule now: a refused prompt says nothing about the model;
    it is listed with its cause and left out of the rates."""
    s = only("instruction-following", "structured-output")
    session = ScriptedSession(reply=refuse_when("Lisbon"))
    outcomes = run_probes(session, s, Tuning.INSTRUCT)
    bad = by_id(outcomes)["json-extraction"]
    assert bad.status == "error" and bad.error == "prompt exceeds the context size"
    summary = summarize(outcomes, s)
    assert summary.status is SmokeStatus.PASSED
    assert summary.capabilities["structured-output"].total == 4
    assert "1 errored (json-extraction): prompt exceeds the context size" in summary.reason
    assert summary.probes_total == 11 and summary.probes_passed == 10


def test_every_probe_errored_is_an_error_not_a_verdict() -> None:
    s = only("structured-output")
    outcomes = run_probes(ScriptedSession(reply=lambda r: PromptRefused("no")), s, Tuning.INSTRUCT)
    summary = summarize(outcomes, s)
    assert summary.status is SmokeStatus.ERROR
    assert summary.reason.startswith("no probe ran to an answer")


def test_capability_threshold_is_sixty_percent() -> None:
    assert CAPABILITY_PASS_RATE == 0.6
    assert failing_capabilities({"a": rate(3, 5), "b": rate(2, 5), "c": rate(0, 0)}) == ["b"]
    assert failing_capabilities({"x": rate(4, 6), "y": rate(3, 6)}) == ["y"]


def test_wilson_interval_matches_the_formula() -> None:
    low, high = wilson(5, 6)
    assert (round(low, 4), round(high, 4)) == (0.4365, 0.9699)
    assert wilson(0, 5)[0] == 0.0 and round(wilson(0, 5)[1], 4) == 0.4345
    assert wilson(0, 0) == (0.0, 1.0)
    r = rate(12, 20)
    assert (r.rate, r.ci_low, r.ci_high) == (0.6, 0.3866, 0.7812)


def test_long_context_is_sized_to_what_the_context_holds_and_says_so() -> None:
    session = ScriptedSession(context_limit=2048)
    s = SmokeSettings(suite=SuitePlan(capabilities=("long-context",), context_tokens=8192))
    outcomes = run_probes(session, s, Tuning.INSTRUCT)
    assert all(o.passed for o in outcomes), [o.detail for o in outcomes]
    lengths = {o.context_tokens for o in outcomes}
    assert len(lengths) == 1 and 1500 < lengths.pop() < 2048  # type: ignore[operator]
    assert "requested 8,192, the smoke context holds 2,048" in outcomes[0].detail
    # one document for all five: a prefix cache prefills it once
    prompts = [r.messages[0]["content"] for r in session.requests]
    head = prompts[0].split("\n\nUsing only")[0]
    assert all(p.startswith(head) for p in prompts) and len(head) > 5000


def test_long_context_runs_at_the_requested_length_when_it_fits() -> None:
    session = ScriptedSession(context_limit=32768)
    s = SmokeSettings(suite=SuitePlan(capabilities=("long-context",), context_tokens=4096))
    outcome = run_probes(session, s, Tuning.INSTRUCT)[0]
    assert 3500 < (outcome.context_tokens or 0) < 4096
    assert "smoke context holds" not in outcome.detail


def test_long_context_document_shrinks_once_when_the_backend_counts_more_tokens() -> None:
    def reply(request: PromptRequest) -> Any:
        tokens = len(last_text(request)) // 2  # this backend's tokenizer: two characters a token
        if tokens + request.max_tokens > 2048:
            return PromptRefused("too long", prompt_tokens=tokens, limit=2048)
        return None

    session = ScriptedSession(reply=reply, context_limit=2048)
    s = SmokeSettings(suite=SuitePlan(capabilities=("long-context",)))
    outcomes = run_probes(session, s, Tuning.INSTRUCT)
    assert all(o.passed for o in outcomes), [o.detail for o in outcomes]
    assert len(session.requests) == 6  # one refusal, then five that fit


def test_repeats_rerun_the_suite_with_successive_seeds() -> None:
    session = ScriptedSession()
    s = only("structured-output", repeats=3, temperature=0.7, seed=10)
    outcomes = run_probes(session, s, Tuning.INSTRUCT)
    assert len(outcomes) == 15
    assert [o.repeat for o in outcomes[::5]] == [0, 1, 2]
    assert sorted({r.seed for r in session.requests}) == [10, 11, 12]
    assert {r.temperature for r in session.requests} == {0.7}
    summary = summarize(outcomes, s)
    assert summary.capabilities["structured-output"].total == 15


def test_repeats_without_sampling_are_refused() -> None:
    with pytest.raises(ValueError, match="repeats > 1 needs temperature > 0"):
        SmokeSettings(repeats=3)


def test_base_weights_get_few_shot_prompts_and_a_transcript_agent_loop() -> None:
    session = ScriptedSession()
    s = only("tool-calling", "code")
    outcomes = by_id(run_probes(session, s, Tuning.BASE))
    assert all(r.prompt is not None and not r.messages for r in session.requests)
    assert outcomes["agent-inventory"].passed, outcomes["agent-inventory"].detail
    final = next(r for r in session.requests if "Result: {" in (r.prompt or "")[-200:])
    assert final.prompt is not None and final.prompt.endswith("\nAnswer:")
    assert final.stop == ("\n",)
    # the few-shot prompt already wrote `def is_palindrome(s):`; the checker sees it
    assert outcomes["code-function"].passed, outcomes["code-function"].detail


def test_split_reasoning() -> None:
    assert split_reasoning("<think>hmm</think>\n4817") == ("4817", "<think>hmm</think>\n")
    assert split_reasoning("<think>the code is 4817") == ("", "<think>the code is 4817")
    assert split_reasoning("plain") == ("plain", "")


def test_driver_learns_thinking_once() -> None:
    driver = SuiteDriver(ScriptedSession(), only("structured-output"), Tuning.INSTRUCT)
    assert not driver.thinking
    driver.run(builtin_probes()[:1])
    assert not driver.thinking


def test_a_base_model_s_code_body_keeps_its_indentation() -> None:
    body = "\n    s = s.lower()\n    return s == s[::-1]\n"
    session = ScriptedSession({"reads the same backwards": body})
    outcome = by_id(run_probes(session, only("code"), Tuning.BASE))["code-function"]
    assert outcome.passed, outcome.detail
    assert outcome.output.startswith("def is_palindrome(s):\n    s = s.lower()")


def test_one_document_length_even_when_thinking_is_seen_midway() -> None:
    def reply(request: PromptRequest) -> Any:
        if "guest Wi-Fi password?" in last_text(request):
            return "<think>the password line</think>teal-harbor-62"
        return None

    session = ScriptedSession(reply=reply, context_limit=4096)
    s = only("long-context")
    outcomes = run_probes(session, s, Tuning.INSTRUCT)
    assert all(o.passed for o in outcomes), [o.detail for o in outcomes]
    heads = {r.messages[0]["content"].split("\n\nUsing only")[0] for r in session.requests}
    assert len(heads) == 1  # the reasoning allowance did not change the document
    assert session.requests[-1].max_tokens == 32 + 1024


def test_an_agent_loop_that_calls_the_tool_again_has_not_answered() -> None:
    again = '{"name": "check_inventory", "arguments": {"sku": "A-77"}, "result": {"on_hand": 342}}'
    script = {**RIGHT, '"on_hand": 342': again}
    outcome = by_id(run_probes(ScriptedSession(script), only("tool-calling"), Tuning.INSTRUCT))[
        "agent-inventory"
    ]
    assert not outcome.passed and outcome.status == "failed"
    assert "called check_inventory again instead of answering" in outcome.detail
