"""The report: its schema (the JSON contract, `schema.py`) and its formats (`formats.py`).

Nothing is imported here: `import selector.report.formats` for the format enum must not build
every report model (`recommend --no-smoke` starts faster without them).
"""
