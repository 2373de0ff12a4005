"""The world a plan acts on, with effort as given: reps, production, quotas, pay, metrics.

Data flows down the modules in this order: :mod:`.population` (draws, reps,
market), :mod:`.production` (a year of activity per rep), :mod:`.paycurves`
(one evaluator for every pay schedule), :mod:`.plans` (quotas and pay of a
plan), :mod:`.metrics` (per-trial outcome metrics and their reduction) and
:mod:`.pipeline` (the one pass draw -> worlds -> quotas -> policy -> year ->
pay that everything which simulates calls), which takes credit for split
deals, overlays and managers from :mod:`.crediting`. :mod:`.attrition` holds the
leaving hazard and the seats of multi-year runs; :mod:`.money` the money scale
of a role that behaviour and attrition share. :mod:`.reference` is a slow,
plain-Python re-statement of the same model, checked against it draw for draw.
"""
