"""Probe files: the built-in suite, the shipped example, and every bad file is one line that
names the file, the probe and the field (exit 2 through the CLI)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selector.cli import app
from selector.smoke.probes import (
    ALWAYS_ON,
    BUILTIN_CAPABILITIES,
    SUITE_VERSION,
    ProbeFileError,
    SuitePlan,
    builtin_probes,
    load_probe_file,
    load_probe_files,
    plan_for,
)

GOOD = """
capability = "support-desk"

[tools.lookup]
description = "Look a ticket up."
parameters = { type = "object", properties = { id = { type = "string" } } }

[[probe]]
id = "triage"
prompt = "Priority of: the shop is down?"
checker = "one_of"
args = { choices = ["P1", "P2"], expected = "P1" }

[[probe]]
id = "lookup"
capability = "tool-calling"
prompt = "Status of T-1?"
tools = ["lookup"]
checker = "tool_call"
args = { name = "lookup", arguments = { id = "T-1" } }

[probe.followup]
result = { status = "open" }
checker = "contains"
args = { value = "open" }
"""


def write(tmp_path: Path, text: str, name: str = "probes.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_suite_has_at_least_five_probes_per_capability() -> None:
    counts = Counter(p.capability for p in builtin_probes())
    assert set(counts) == set(BUILTIN_CAPABILITIES)
    assert all(n >= 5 for n in counts.values()), counts
    assert SUITE_VERSION == "2"
    agent_loops = [p for p in builtin_probes() if p.followup is not None]
    assert len(agent_loops) >= 2 and all(p.capability == "tool-calling" for p in agent_loops)
    assert all(p.document is not None for p in builtin_probes() if p.capability == "long-context")
    # every built-in probe can be asked of base weights too
    assert all(p.completion_prompt for p in builtin_probes())


def test_a_team_file_loads_with_named_tools_and_file_level_capability(tmp_path: Path) -> None:
    triage, lookup = load_probe_file(write(tmp_path, GOOD))
    assert (triage.capability, lookup.capability) == ("support-desk", "tool-calling")
    assert lookup.tools[0].function.name == "lookup"
    assert lookup.tools[0].function.parameters["properties"]["id"] == {"type": "string"}
    assert triage.source == "probes.toml"
    assert triage.base_prompt().endswith("\n\nAnswer:")


def test_the_shipped_example_loads(repo_root: Path) -> None:
    probes = load_probe_file(repo_root / "examples" / "probes" / "support-desk.toml")
    assert len(probes) == 5
    assert {p.capability for p in probes} == {"support-desk", "structured-output"}


def test_plan_runs_always_on_needed_and_team_probes(tmp_path: Path) -> None:
    plan = plan_for(["tool-calling", "vision"], suites=[write(tmp_path, GOOD)])
    caps = {p.capability for p in plan.probes()}
    assert caps == {*ALWAYS_ON, "tool-calling", "support-desk"}
    assert plan.gated() == ("instruction-following", "structured-output", "tool-calling",
                            "support-desk")  # fmt: skip


def test_suite_digest_changes_with_any_probe_content(tmp_path: Path) -> None:
    one = plan_for([], suites=[write(tmp_path, GOOD, "a.toml")])
    two = plan_for(
        [], suites=[write(tmp_path, GOOD.replace("shop is down", "shop is up"), "b.toml")]
    )
    assert one.digest() != two.digest()
    assert one.digest() == plan_for([], suites=[tmp_path / "a.toml"]).digest()
    assert SuitePlan().digest() != SuitePlan(capabilities=ALWAYS_ON).digest()
    assert SuitePlan(context_tokens=4096).digest() != SuitePlan().digest()
    # the file's name is not content: the same probes from another path key the same
    assert two.digest() == plan_for([], suites=[write(tmp_path, GOOD.replace(
        "shop is down", "shop is up"), "c.toml")]).digest()  # fmt: skip


BAD = [
    ('id = "x"\n', None, "", "unknown top-level key 'id'"),
    ("", None, "", "no [[probe]] entries"),
    (
        '[[probe]]\nid = "p1"\nprompt = "hi"\ncapability = "x"\n',
        "p1",
        "checker",
        "required",
    ),
    (
        '[[probe]]\nid = "p1"\nprompt = "hi"\ncapability = "x"\nchecker = "regx"\n',
        "p1",
        "checker",
        "Unknown checker 'regx'. Did you mean: regex?",
    ),
    (
        '[[probe]]\nid = "p1"\nprompt = "hi"\ncapability = "x"\nchecker = "regex"\n'
        'args = { pattern = "(" }\n',
        "p1",
        "args.pattern",
        "not a valid regular expression",
    ),
    (
        '[[probe]]\nid = "p1"\nprompt = "hi"\ncapability = "x"\nchecker = "regex"\n'
        'args = { patern = "a" }\n',
        "p1",
        "args.patern",
        "unknown key (did you mean 'pattern'?)",
    ),
    (
        '[[probe]]\nid = "p1"\nprompt = "hi"\ncapability = "x"\nchecker = "number"\n'
        'args = { expected = "seventy" }\n',
        "p1",
        "args.expected",
        "valid number",
    ),
    (
        '[[probe]]\nid = "p1"\ncapability = "x"\nchecker = "exact"\nargs = { value = "a" }\n',
        "p1",
        "",
        "give exactly one of `prompt` or `messages`",
    ),
    (
        '[[probe]]\nid = "p1"\nprompt = "hi"\ncapability = "x"\nchecker = "exact"\n'
        'args = { value = "a" }\npromt = "typo"\n',
        "p1",
        "promt",
        "unknown key (did you mean 'prompt'?)",
    ),
    (
        '[[probe]]\nid = "Bad Id"\nprompt = "hi"\ncapability = "x"\nchecker = "exact"\n'
        'args = { value = "a" }\n',
        "Bad Id",
        "id",
        "should match pattern",
    ),
    (
        '[[probe]]\nid = "p1"\nprompt = "hi"\nchecker = "exact"\nargs = { value = "a" }\n',
        "p1",
        "capability",
        "required",
    ),
    (
        '[[probe]]\nid = "p1"\nprompt = "hi"\ncapability = "x"\nchecker = "tool_call"\n'
        'args = { name = "f" }\ntools = ["f"]\n',
        "p1",
        "tools",
        "unknown tool 'f' (the file's [tools] define: none)",
    ),
    (
        '[[probe]]\nid = "p1"\nprompt = "hi"\ncapability = "x"\nchecker = "exact"\n'
        'args = { value = "a" }\n[probe.followup]\nresult = 1\nchecker = "exact"\n'
        'args = { value = "b" }\n',
        "p1",
        "",
        "`followup` (an agent loop) needs `tools`",
    ),
    (
        '[[probe]]\nid = "p1"\nprompt = "hi"\ncapability = "x"\nchecker = "exact"\n'
        'args = { value = "a" }\ndocument = true\n',
        "p1",
        "document",
        "the file has no [document]",
    ),
    (
        '[[probe]]\nid = "p1"\nprompt = "a"\ncapability = "x"\nchecker = "exact"\n'
        'args = { value = "a" }\n[[probe]]\nid = "p1"\nprompt = "b"\ncapability = "x"\n'
        'checker = "exact"\nargs = { value = "b" }\n',
        "p1",
        "id",
        "duplicate probe id in this file",
    ),
    ('[[probe]]\nid = "p1"\nprompt = "hi\n', None, "", "TOML syntax error"),
]


@pytest.mark.parametrize(("text", "probe_id", "field", "message"), BAD)
def test_every_bad_probe_file_is_one_line_naming_file_probe_and_field(
    tmp_path: Path, text: str, probe_id: str | None, field: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ProbeFileError) as err:
        load_probe_file(path)
    line = str(err.value)
    assert "\n" not in line
    assert line.startswith(str(path)), line
    if probe_id is not None:
        assert f"probe {probe_id!r}:" in line, line
    if field:
        assert f": {field}: " in line, line
    assert message in line, line


def test_bad_args_point_at_their_line(tmp_path: Path) -> None:
    text = GOOD.replace('args = { value = "open" }', 'args = { valeu = "open" }')
    path = write(tmp_path, text)
    with pytest.raises(ProbeFileError) as err:
        load_probe_file(path)
    line_no = text.splitlines().index('args = { valeu = "open" }') + 1
    assert str(err.value).startswith(f"{path}:{line_no}: probe 'lookup': followup.args.valeu:")


def test_ids_must_be_unique_across_files_and_apart_from_builtins(tmp_path: Path) -> None:
    a = write(tmp_path, GOOD, "a.toml")
    b = write(tmp_path, GOOD, "b.toml")
    with pytest.raises(ProbeFileError, match=r"b.toml: probe 'triage': id: already defined in"):
        load_probe_files([a, b])
    clash = write(tmp_path, GOOD.replace('id = "triage"', 'id = "tool-weather"'), "c.toml")
    with pytest.raises(ProbeFileError, match="the built-in suite has a probe of that name"):
        load_probe_files([clash])


def test_missing_probe_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ProbeFileError, match=r"nope.toml: no such file"):
        load_probe_files([tmp_path / "nope.toml"])


def test_recommend_with_a_bad_probe_file_exits_2_naming_it(tmp_path: Path) -> None:
    write(tmp_path, BAD[4][0], "team.toml")
    req = write(tmp_path, '[smoke]\nsuites = ["team.toml"]\n', "req.toml")
    result = CliRunner().invoke(app, ["recommend", str(req), "--no-smoke"])
    assert result.exit_code == 2, result.output
    assert "team.toml" in result.output and "probe 'p1': args.pattern:" in result.output
    assert "Traceback" not in result.output


def test_smoke_with_a_bad_probe_file_exits_2(tmp_path: Path) -> None:
    write(tmp_path, BAD[3][0], "team.toml")
    result = CliRunner().invoke(
        app, ["smoke", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--suite",
              str(tmp_path / "team.toml")],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "probe 'p1': checker: Unknown checker 'regx'" in result.output


def test_requirements_resolve_suites_relative_to_the_file(tmp_path: Path) -> None:
    from selector.requirements import load_requirements

    sub = tmp_path / "team"
    sub.mkdir()
    write(sub, GOOD, "probes.toml")
    req = load_requirements(write(tmp_path, '[smoke]\nsuites = ["team/probes.toml"]\n', "r.toml"))
    assert req.smoke.suites == [(sub / "probes.toml").resolve()]


def test_requirements_refuse_repeats_without_sampling(tmp_path: Path) -> None:
    from selector.errors import RequirementsError
    from selector.requirements import load_requirements

    path = write(tmp_path, "[smoke]\nrepeats = 5\n", "r.toml")
    with pytest.raises(RequirementsError, match="repeats > 1 needs temperature > 0"):
        load_requirements(path)
    ok = load_requirements(write(tmp_path, "[smoke]\nrepeats = 5\ntemperature = 0.7\n", "s.toml"))
    assert (ok.smoke.repeats, ok.smoke.temperature, ok.smoke.seed) == (5, 0.7, 0)
