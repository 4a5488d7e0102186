"""Scripted answers for the probe suite, shared by the driver tests and the parity test.

`answer_for(prompt_text)` picks a scripted reply by a phrase of the probe's prompt, so the
same script can feed a `ProbeSession` directly, a fake llama-cpp `Llama`, or the local HTTP
fault server (tests/endpoint_fault_server.py `answers=`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from selector.smoke.session import Generation, PromptRefused, PromptRequest

WEATHER = '{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "celsius"}}'

# What a model that gets everything right would say, keyed by a phrase of each prompt. The
# agent loops' final answers are keyed by a phrase of the tool result they must use.
RIGHT: dict[str, str] = {
    "count from 1 to 500": " ".join(str(i) for i in range(1, 41)),  # the endpoint speed run
    # long-context questions next: every document holds all five facts
    "access code for the storage room?": "4817",
    "guest Wi-Fi password?": "teal-harbor-62",
    "finance team go to?": "B-113",
    "fire warden for the fourth floor?": "Marisol Okafor",
    "quarterly board meeting now?": "Room 5.21",
    "word hello three times": "HELLO, HELLO, HELLO",
    "battery died after two days": "negative",
    "Describe the sea": "Vast, blue, deep.",
    "capital of France": "PARIS",
    "Name three fruits": "pear, plum, fig",
    "about tea": "- Tea is brewed from leaves.\n- It has caffeine.\n- China grows the most.",
    "Lisbon is the capital": '{"city": "Lisbon", "country": "Portugal"}',
    "Invoice INV-2291": '{"invoice_number": "INV-2291", "total": 1250.5, "currency": "EUR"}',
    "first three planets": '["mercury", "venus", "earth"]',
    "Ines Duarte": '{"name": "Ines Duarte", "age": 34, "languages": ["Portuguese", "French"]}',
    "free cruise": '{"spam": true, "reason": "prize scam"}',
    "JD014600003GB": "It shipped with DHL and should arrive on 2025-03-14.",
    '"on_hand": 342': "There are 342 units on hand in Porto.",
    "weather in Oslo": WEATHER,
    "time is it in Tokyo": '{"name": "get_time", "arguments": {"timezone": "Asia/Tokyo"}}',
    "250 euros in US dollars": (
        '{"name": "convert_currency", "arguments": '
        '{"amount": 250, "from_currency": "EUR", "to_currency": "USD"}}'
    ),
    "colleague Sam": "Welcome to the team, Sam!",
    "my order 8812": '{"name": "get_order_status", "arguments": {"order_id": "8812"}}',
    "SKU A-77": '{"name": "check_inventory", "arguments": {"sku": "A-77", "warehouse": "Porto"}}',
    "12 pens": "12 * 7 = 84, 84 - 5 = 79. Answer: 79",
    "leaves at 09:40": "09:40 + 2:35 = 12:15. Answer: 12:15",
    "Dana is taller": "Dana > Anna > Ben > Carl. Answer: Carl",
    "jacket costs 80": "25% of 80 is 20. Answer: 60",
    "minutes are there in 3.5": "3.5 * 60 = 210. Answer: 210",
    "are even: 3, 8": "8, 14 and 20. Answer: 3",
    "x.sort()": "30",
    "reads the same backwards": (
        "```python\ndef is_palindrome(s):\n    s = s.lower()\n    return s == s[::-1]\n```"
    ),
    "for x in xs": "s += x",
    "customer_id in the table orders": (
        "SELECT customer_id, COUNT(*) FROM orders GROUP BY customer_id;"
    ),
    "for b in items": "O(n^2)",
    "json.loads": "3",
    "The library opens at nine": "La bibliothèque ouvre à neuf heures.",
    "Thank you for your help": "Danke für Ihre Hilfe.",
    "capital de Italia": "Roma",
    "Dziękuję": "Polish",
    "水": "water",
    "number 7 as a word": "sete",
}


def last_text(request: PromptRequest) -> str:
    """The text a script keys on: the raw prompt, or the last message's content."""
    if request.prompt is not None:
        return request.prompt
    return str(request.messages[-1].get("content") or "")


def answer_for(text: str, script: Mapping[str, str], default: str = "I do not know") -> str:
    for needle, answer in script.items():
        if needle in text:
            return answer
    return default


class ScriptedSession:
    """A ProbeSession that answers from a script; records every request it gets.

    `reply(request) -> Generation | str | Exception` overrides the script for a request.
    """

    def __init__(
        self,
        script: Mapping[str, str] | None = None,
        *,
        context_limit: int | None = None,
        reply: Callable[[PromptRequest], Any] | None = None,
        finish_reason: str = "stop",
    ) -> None:
        self.script = dict(RIGHT if script is None else script)
        self.context_limit = context_limit
        self.reply = reply
        self.finish_reason = finish_reason
        self.requests: list[PromptRequest] = []

    def generate(self, request: PromptRequest) -> Generation:
        self.requests.append(request)
        got = self.reply(request) if self.reply is not None else None
        if isinstance(got, Exception):
            raise got
        if isinstance(got, Generation):
            return got
        text = got if isinstance(got, str) else answer_for(last_text(request), self.script)
        return Generation(text=text, finish_reason=self.finish_reason, prompt_tokens=None)


def refuse_when(
    needle: str, message: str = "prompt exceeds the context size"
) -> Callable[[PromptRequest], Any]:
    def reply(request: PromptRequest) -> Any:
        if needle in json.dumps([dict(m) for m in request.messages]) + (request.prompt or ""):
            return PromptRefused(message)
        return None

    return reply
