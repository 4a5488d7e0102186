"""Closed vocabularies shared by the requirements file, the catalog and the report."""

from __future__ import annotations

from enum import Enum

# The terms of the score, in the order every report lists them: the keys of `[ranking.weights]`,
# of the report's `score_breakdown` and of the lock's evidence (docs/ranking.md explains each).
SCORE_TERMS: tuple[str, ...] = ("quality", "size_preference", "license", "tooling", "smoke")


class Capability(str, Enum):
    """What a deployment can ask a model to do (`[use_case] needs`; docs/requirements.md)."""

    TOOL_CALLING = "tool-calling"
    REASONING = "reasoning"
    CODE = "code"
    VISION = "vision"
    MULTILINGUAL = "multilingual"
    LONG_CONTEXT = "long-context"


class Clause(str, Enum):
    """License clauses a policy can refuse (`[license] deny_clauses`; docs/requirements.md)."""

    MAU_CAP = "mau-cap"
    ACCEPTABLE_USE_POLICY = "acceptable-use-policy"
    ATTRIBUTION = "attribution"
    NAMING = "naming"
    FIELD_OF_USE = "field-of-use"
    REGION_RESTRICTION = "region-restriction"
    NON_COMMERCIAL = "non-commercial"
    REVENUE_CAP = "revenue-cap"
    FLOW_DOWN = "flow-down"


class Architecture(str, Enum):
    """How the network mixes tokens and routes parameters."""

    DENSE = "dense"
    MOE = "moe"
    HYBRID = "hybrid"


class Runtime(str, Enum):
    LLAMA_CPP = "llama.cpp"
    VLLM = "vllm"
    OLLAMA = "ollama"
    TRANSFORMERS = "transformers"


class Modality(str, Enum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"


class Tuning(str, Enum):
    """Base weights are judged with few-shot prompts; instruct weights with their chat template."""

    BASE = "base"
    INSTRUCT = "instruct"


class ReasonCode(str, Enum):
    """Why a model was excluded: the `code` of each reason in the report (docs/ranking.md)."""

    LICENSE = "license"
    ORIGIN = "origin"
    CAPABILITY = "capability"
    CONTEXT = "context"
    SIZE = "size"
    DISK = "disk"
    FIT = "fit"
    LATENCY = "latency"
    SMOKE = "smoke"


# Words people write for a closed-vocabulary value, squashed (lowercase, letters and digits
# only), for the did-you-mean hint. Only unambiguous ones: a hint that misleads is worse.
VALUE_ALIASES: dict[str, str] = {
    "aup": Clause.ACCEPTABLE_USE_POLICY.value,
    "acceptableuse": Clause.ACCEPTABLE_USE_POLICY.value,
    "usagepolicy": Clause.ACCEPTABLE_USE_POLICY.value,
    "mau": Clause.MAU_CAP.value,
    "monthlyactiveusers": Clause.MAU_CAP.value,
    "nc": Clause.NON_COMMERCIAL.value,
    "noncommercialonly": Clause.NON_COMMERCIAL.value,
    "research": Clause.NON_COMMERCIAL.value,
    "revenue": Clause.REVENUE_CAP.value,
    "fieldofuserestriction": Clause.FIELD_OF_USE.value,
    "militaryuse": Clause.FIELD_OF_USE.value,
    "geo": Clause.REGION_RESTRICTION.value,
    "region": Clause.REGION_RESTRICTION.value,
    "trademark": Clause.NAMING.value,
    "branding": Clause.NAMING.value,
    "tools": Capability.TOOL_CALLING.value,
    "toolcall": Capability.TOOL_CALLING.value,
    "tooluse": Capability.TOOL_CALLING.value,
    "functioncalling": Capability.TOOL_CALLING.value,
    "functions": Capability.TOOL_CALLING.value,
    "coding": Capability.CODE.value,
    "thinking": Capability.REASONING.value,
    "images": Capability.VISION.value,
    "image": Capability.VISION.value,
    "longcontext": Capability.LONG_CONTEXT.value,
    "translation": Capability.MULTILINGUAL.value,
}

# ISO 3166-1 alpha-2 codes. Kept as data so an unknown code is caught at validation.
ISO_COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO
    DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU
    GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW
    KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU
    MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW
    PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA
    ZM ZW""".split()  # noqa: SIM905 - one block of codes reads better than 250 quoted strings
)
