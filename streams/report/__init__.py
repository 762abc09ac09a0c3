"""The weekly exceedance report: a pure model (``model``) drawn by one renderer per format
(``html``, ``pdf``, ``xlsx``), produced on demand (CLI, dashboard page) and on schedule (``schedule``).
Partner exports (traffic-police referrals, credit-platform list) live in ``exports``."""
