# ruff: noqa: B018 - each expression "uses" a name for vulture
"""Names vulture cannot see used (tests/test_dead_code.py): registered, or a shared helper.

Each line "uses" one name, with the reason it is not dead.
"""

from selector import catalog, cli, textsafe
from selector.weights import cli as weights_cli
from selector.weights import gguf_meta

cli._root  # typer's @app.callback
textsafe.markup  # the shared escape for Rich markup strings (COMMON: textsafe's helpers)
gguf_meta.GGUFInfo.context_length  # read by tests/test_smoke_discovery.py (smoke's metadata)
# named by string in cli.RootGroup.lazy: imported when the command runs
weights_cli.models_command
weights_cli.fetch_command
catalog.__getattr__  # PEP 562: validate_catalog imported on first use
