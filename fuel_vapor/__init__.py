"""Vapour recovery at gas stations and oil depots, plus station ambient/groundwater sensors.

``protocol`` (sans-IO HJ 212 codec), ``codemaps`` (per-city dialects as YAML), ``intake`` (packet →
events), ``events``, ``rules`` (GB 20952 / GB 20950 compliance, pure), ``processors``, ``server``
(asyncio gateway), ``simulator``, ``embedded`` and ``cli``.
"""
