"""Manual steps (contract section 10): a task per manual source for each accepted access request and each
confirmed deletion, emailed to the source's owner and marked done by a person."""
