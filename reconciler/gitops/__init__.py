"""letta-apply on GitHub: the plan as a sticky pull-request comment, apply only what was
reviewed, drift as an issue. `letta-apply github ...` runs these; `action.yml` wraps them.

`review` holds the comment's hidden record and the digest that ties an apply to a review;
`context` reads what the runner provides; `github` talks to GitHub's REST API; `flows` are the
three jobs; `report` writes the step's outputs and summary.
"""
