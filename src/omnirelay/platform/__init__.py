"""The operator's platform: users and groups own balances, keys spend them; top-ups and
redemption codes; rate limits (in memory, or shared through Redis); invalidations between
nodes; the usage log's queries; the audit log.

Modules: ``accounts`` (users, groups, keys as people ask for them, validated once for the CLI
and the API), ``balances`` (top-ups, the balance ledger, redemption codes), ``limits/``
(``base`` + ``memory`` + ``redis``), ``bus`` (invalidations), ``redis_link`` (the connection
and its health), ``usage_log`` (filters, paging, aggregates, CSV, retention), ``audit``,
``catalogue_admin`` (channels, models, task prices), ``context`` (the request being served).
"""
