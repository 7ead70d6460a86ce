"""Job diagnosis: "why isn't this job running?" (``DiagnoseJob``).

``repository`` gathers facts with the same predicates the claim query uses,
``rules`` turns them into blockers (pure, unit-tested), ``service`` owns the
transaction. Every blocker is ``{code, message, details}``, like an API error
body, with the one to act on first at index 0.
"""
