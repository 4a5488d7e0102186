"""The filter re-run on a modified copy of the requirements: what-if and explain are built on it.

Nothing here re-implements a constraint: a model is judged by `assess_catalog` (on a catalog
holding only that model) and `finish_assessment`, exactly as `recommend` judges it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from selector.catalog import Catalog, ModelEntry
from selector.filtering import Assessment, assess_catalog, finish_assessment
from selector.hardware import HardwareProfile, resolve_hardware
from selector.requirements import HardwareSpec, Requirements
from selector.smoke.interface import SmokeResult
from selector.vocab import ReasonCode


@dataclass
class Rerun:
    """Judges one model under any variant of the base requirements, on the base run's evidence."""

    base: Requirements
    catalog: Catalog
    hardware: HardwareProfile
    _hardware_cache: dict[str, HardwareProfile] = field(default_factory=dict)

    def hardware_for(self, spec: HardwareSpec) -> HardwareProfile:
        """The base run's hardware when `[hardware]` is unchanged, else the changed one resolved."""
        if spec == self.base.hardware:
            return self.hardware
        key = spec.model_dump_json()
        if key not in self._hardware_cache:
            self._hardware_cache[key] = resolve_hardware(spec, self.catalog)
        return self._hardware_cache[key]

    def assess(self, model: ModelEntry, req: Requirements, smoke: SmokeResult | None) -> Assessment:
        """Every reason the filter gives `model` under `req`, with the base run's smoke result.

        With `[smoke] enabled = false` the model is judged untested, as `recommend` would; a
        model the base run did not smoke-test (`smoke` None) is judged on its estimates.
        """
        one = Catalog(
            models={model.id: model},
            licenses=self.catalog.licenses,
            gpus=self.catalog.gpus,
            artifacts=self.catalog.artifacts,
        )
        hw = self.hardware_for(req.hardware)
        (a,) = assess_catalog(req, one, hw)
        if a.excluded:
            pass  # the pipeline smoke-tests only what the static filter admits
        elif not req.smoke.enabled:
            a.smoke = SmokeResult.skipped("smoke tests disabled ([smoke] enabled = false)")
        else:
            a.smoke = smoke
        finish_assessment(a, req)
        return a


def codes(a: Assessment) -> set[ReasonCode]:
    return {r.code for r in a.reasons}


def decode_figure(a: Assessment, req: Requirements) -> tuple[float | None, str]:
    """The decode speed the latency filter judges: measured on the target, else the estimate."""
    from selector.filtering import decode_figure as figure

    return figure(a.smoke, a.fit, req.hardware.declared)
