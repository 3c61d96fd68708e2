"""What every queue's workers share: the loop that drains one (`draining`).

The queue itself (the line, its claims and sweep) is a repository:
`mongoshop._async.repositories.line`; the back-off rule is `mongoshop.backoff`.
"""
