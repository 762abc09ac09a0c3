"""Vapour-recovery compliance rules (GB 20952-2020 App. E as implemented, GB 20950, sensor anomalies),
one module per subject:

- ``nozzle``: per-fuelling verdicts, the daily A/L pass rate with pooling and escalation, pump,
  liquid resistance, idle, no-data, ISD comparison, flag mismatch and shield checks;
- ``station``: tank pressure (zero pressure, P/V valve), processing-unit outlet, station flags;
- ``sensor``: ambient air (hourly) and groundwater (daily) anomaly channels;
- ``depot``: oil-depot processing unit and tank-truck pressure;
- ``common``: operator hints, Beijing days, the exceedance helper.

Pure: no clock, no IO. Every judgement takes event times. Each subject's state between events is a
slotted class (``NozzleTrack``, ``StationTrack``, ``SensorTrack``, ``DepotTrack``) holding dates and
datetimes as such; ``to_dict`` / ``from_dict`` turn it into the plain JSON-ready dict the state
store keeps (the processor's dict per key, a Faust table in production), in the same form the first
release stored, so saved state loads. The same functions serve the incremental processors and
``recompute_nozzle`` / ``recompute_station``, which rebuild every alarm from raw data: the device's
own alarm flags are never trusted, only compared (FV-FLAGMISMATCH).

Known limits: late events for an already closed day are counted (``late``) but not re-judged; the
shield test needs >= 200 valid fuellings per nozzle; ambient baselines need >= 24 hourly means.
"""

from fuel_vapor.rules.common import (
    HINTS,
    LEVELS,
    MAX_EVIDENCE,
    SOURCE,
    day_end,
    day_of,
    day_start,
)
from fuel_vapor.rules.depot import DepotRules, DepotTrack
from fuel_vapor.rules.nozzle import (
    VERDICTS,
    DayTally,
    FuellingParams,
    NozzleRules,
    NozzleTrack,
    WeekDay,
    classify,
    counts_for_pass_rate,
    isd_state,
    ks_uniform_p,
    recompute_nozzle,
)
from fuel_vapor.rules.sensor import AMBIENT_VOC, QuantityTrack, SensorRules, SensorTrack
from fuel_vapor.rules.station import StationRules, StationTrack, recompute_station

__all__ = [
    "AMBIENT_VOC",
    "HINTS",
    "LEVELS",
    "MAX_EVIDENCE",
    "SOURCE",
    "VERDICTS",
    "DayTally",
    "DepotRules",
    "DepotTrack",
    "FuellingParams",
    "NozzleRules",
    "NozzleTrack",
    "QuantityTrack",
    "SensorRules",
    "SensorTrack",
    "StationRules",
    "StationTrack",
    "WeekDay",
    "classify",
    "counts_for_pass_rate",
    "day_end",
    "day_of",
    "day_start",
    "isd_state",
    "ks_uniform_p",
    "recompute_nozzle",
    "recompute_station",
]
