"""Roadside remote sensing (RSD, 遥感监测): intake, computation, validity, limits and repeat offenders.

Rooms: ``events`` (the contract: passes, calibrations, downtime), ``calc`` (g/kg, VSP,
concentrations; pure, vectorised), ``validity`` (screening gates with reasons), ``evaluate`` (the one
column-wise computation path), ``rules`` (limits, first/repeat rule, site quality; pure),
``processors`` (exceedances), ``profiles`` (vendor field mappings as YAML), ``assemble`` (records to
events), ``intake`` (HTTP + watched folder: the only IO), ``simulator``, ``embedded``, ``cli``.
"""
