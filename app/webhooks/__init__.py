"""Webhooks (Standard Webhooks): subscriptions, events written to an outbox with the change that causes them,
signed deliveries retried by the worker, and each attempt on record.

Nothing below the composition imports this package: the composition makes every session of the service's
sessionmaker emit events (``emission.install``) and registers the delivery job (``jobs``)."""
