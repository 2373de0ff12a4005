"""The Monte Carlo run: chunks of trials over every plan on common random numbers.

:mod:`.core` runs and reduces chunks, :mod:`.parallel` chooses where they run,
:mod:`.results` labels the numbers, :mod:`.api` is the small public API
(``simulate``, ``compare``, ``summarise``) and :mod:`.years` runs several years
with ratchets.
"""
