"""The platform's own records: the outbox's delivery state and the event log, for
administrators."""
