"""Recipients (GDPR Art. 19): those the brand passes customers' data to, told when an erasure removed some of it.

The recipients are configured in SOURCES_FILE (``app.sources.config.Recipient``). The end of a processed erasure
calls :func:`app.recipients.service.notify_recipients`; each notice is written once per (request, recipient),
with its email in the outbox or its signed webhook's delivery job, in the erasure's own transaction."""
