"""Keeping secrets out of everything selector prints: key-like values, URLs with credentials.

docs/endpoints.md promises that an API key never appears in a report, an error or a log line.
These checks run where a value is first accepted (the requirements file, `--api-key-env`,
`--endpoint`), so nothing downstream ever holds a secret it could print.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

REDACTED = "[redacted]"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Prefixes of API keys and tokens as their issuers write them (OpenAI, Anthropic, Hugging Face,
# GitHub, GitLab, Groq, Slack, Stripe, Google, AWS, JWTs), case as issued.
_KEY_PREFIX = re.compile(
    r"^(sk-|sk_|rk_|pk_|hf_|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|gsk_|xox[abpr]-|"
    r"AIza|AKIA|ASIA|eyJ|nvapi-|r8_|pplx-|fw_)"
)
MAX_ENV_NAME = 64


def looks_like_secret(value: str) -> bool:
    """True for a value that reads like a credential rather than a name.

    Names of environment variables are words joined by underscores (`VLLM_API_KEY`); keys are
    long runs of mixed letters and digits, often behind an issuer's prefix. A false positive
    costs the user a rename; a false negative prints their key, so the rule leans to caution.
    """
    v = value.strip()
    if len(v) > MAX_ENV_NAME:
        return True
    if _KEY_PREFIX.match(v) and len(v) >= 16:
        return True
    for word in re.split(r"[_\W]+", v):
        digits = sum(c.isdigit() for c in word)
        mixed = any(c.islower() for c in word) and any(c.isupper() for c in word)
        if (len(word) >= 12 and digits >= 3) or (len(word) >= 16 and mixed) or len(word) >= 24:
            return True
    return False


def env_name_problem(value: str) -> str | None:
    """Why `value` cannot be the NAME of an environment variable, without echoing it."""
    if looks_like_secret(value):
        return (
            "looks like an API key, not the name of an environment variable; the value is "
            "not shown. Put the key in a variable (export VLLM_API_KEY=...) and give its name"
        )
    if not _ENV_NAME.fullmatch(value):
        return (
            "must be the NAME of an environment variable (letters, digits and _, not starting "
            "with a digit), not the key itself; the value is not shown"
        )
    return None


def base_url_problem(url: str) -> str | None:
    """Why `url` is not a safe http(s) base URL; the message never repeats credentials."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        return f"is not a valid URL ({exc}); expected e.g. http://gpu-box:8000/v1"
    if parts.username or parts.password:
        return (
            "must not carry credentials (user:password@); the URL is not shown. Put the API "
            "key in an environment variable and name it with api_key_env"
        )
    if parts.query or parts.fragment:
        return (
            "must not carry a query string or fragment (keys ride there); the URL is not "
            "shown. Put the API key in an environment variable and name it with api_key_env"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{display_url(url)!r} is not an http(s) URL (expected e.g. http://gpu-box:8000/v1)"
    return None


def display_url(url: str) -> str:
    """`url` without user info, query or fragment: safe to print even when it had them."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "<invalid URL>"
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}" if parts.scheme else host + parts.path


def redact(text: str, *secrets: str | None) -> str:
    """`text` with every occurrence of each non-empty secret replaced by `[redacted]`.

    Call this before any cut to a display length: a cut first leaves most of a key behind.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text
